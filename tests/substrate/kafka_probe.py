#!/usr/bin/env python3
"""Prints what the local broker holds as JSON: {"topics": [...], "groups": [...]} (for substrate tests)."""
import json
import sys

from kafka import KafkaAdminClient

bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="m4host-substrate-probe")
print(json.dumps({"topics": sorted(admin.list_topics()), "groups": sorted(g["group_id"] for g in admin.list_groups())}))
admin.close()
