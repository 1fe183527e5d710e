#!/usr/bin/env bash
# Sequential chat sends over HTTP against a fresh release server; prints
# the send->ack latency, then checks history and analytics caught up.
# usage: benches/chat-probe.sh PORT [server flags...]   (after cargo build --release)
set -e
P=$1; shift
D=$(mktemp -d)
env -u DATABASE_URL -u KAFKA_BROKERS $(dirname "$0")/../target/release/metaverse --data-dir $D --http-addr 127.0.0.1:$P --ws-addr 127.0.0.1:$((P+1)) --admin-signup open --log warn --chat-rate 100000 --chat-burst 100000 "$@" > $D/log 2>&1 &
SP=$!
sleep 2
H=http://127.0.0.1:$P/api/v1
curl -s -XPOST $H/signup -H 'content-type: application/json' -d '{"username":"bench1","password":"password123"}' >/dev/null
T=$(curl -s -XPOST $H/signin -H 'content-type: application/json' -d '{"username":"bench1","password":"password123"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
S=$(curl -s -XPOST $H/space -H "authorization: Bearer $T" -H 'content-type: application/json' -d '{"name":"b","dimensions":"20x20"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["spaceId"])')
R=$(curl -s $H/chatroom/space/$S -H "authorization: Bearer $T" | python3 -c 'import sys,json; print(json.load(sys.stdin)["chatrooms"][0]["id"])')
$(dirname "$0")/../target/release/metaverse-bench --http http://127.0.0.1:$P probe --path /api/v1/chatroom/$R/send --requests 3000 --json '{"content":"hello there"}' --token $T
sleep 1
curl -s "$H/analytics/spaces/$S" -H "authorization: Bearer $T" | python3 -c 'import sys,json; print("analytics messages:", json.load(sys.stdin)["totals"]["messages"])'
curl -s "$H/chatroom/$R/messages?limit=1" -H "authorization: Bearer $T" | python3 -c 'import sys,json; print("latest:", json.load(sys.stdin)["messages"][0]["content"])'
kill $SP; wait $SP 2>/dev/null || true
