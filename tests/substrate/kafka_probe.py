#!/usr/bin/env python3
"""Prints what the local broker holds as JSON: {"topics": [...], "groups": [...]} (for substrate tests).
--create=TOPIC creates a test-only topic first, so tests never consume the dev_min lane topics."""
import json
import sys

from kafka import KafkaAdminClient

from kafka.admin import NewTopic

args = [a for a in sys.argv[1:] if not a.startswith("--create=")]
create = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--create=")]
bootstrap = args[0] if args else "127.0.0.1:9092"
admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="m4host-substrate-probe")
missing = [t for t in create if t not in set(admin.list_topics())]
if missing:
    admin.create_topics([NewTopic(t, 1, 1) for t in missing])
print(json.dumps({"topics": sorted(admin.list_topics()), "groups": sorted(g["group_id"] for g in admin.list_groups())}))
admin.close()
