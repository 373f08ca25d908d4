# Shared by bench/net/run.sh: a network namespace with SeaweedFS (and Azurite) behind a
# veth pair shaped with `tc tbf` (rate) and the delaying relay `stash-net-relay`
# (latency; this kernel has no netem). Sourced, not run. Everything it creates is named
# after $NET_ID and removed by net_down, which run.sh calls from its EXIT trap.

NET_ID=${NET_ID:-$$}
NS=stashnet-$NET_ID
VETH_HOST=snh$((NET_ID % 100000))
VETH_NS=snn$((NET_ID % 100000))
NET_OCTET=$((NET_ID % 200 + 20))
HOST_IP=10.231.$NET_OCTET.1
NS_IP=10.231.$NET_OCTET.2
# weed names its unix sockets /tmp/seaweedfs-<component>-<port>.sock, in the shared
# filesystem, not per namespace: ports that differ from the test servers' defaults keep
# it from unlinking and replacing theirs. So every weed port is set, from one base.
PORT_BASE=$((21000 + NET_ID % 400 * 10))
S3_PORT=$((PORT_BASE + 3))
METRICS_PORT=$((PORT_BASE + 5))
AZ_PORT=$((PORT_BASE + 6))
NET_PIDS=()
USE_NETNS=1

net_log() { printf '[net %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Creates the namespace and the veth pair; falls back to loopback (no rate limit) when
# namespaces cannot be made (not root, no CAP_NET_ADMIN).
net_up() {
    if ! ip netns add "$NS" 2>/dev/null; then
        net_log "cannot create a network namespace (not root?): falling back to loopback + relay, no rate limit"
        USE_NETNS=0
        NS_IP=127.0.0.1
        S3_PORT=$((20000 + NET_ID % 20000)); METRICS_PORT=$((S3_PORT + 1)); AZ_PORT=$((S3_PORT + 2))
        return 0
    fi
    NS_EXEC=(ip netns exec "$NS")
    ip link add "$VETH_HOST" type veth peer name "$VETH_NS"
    ip link set "$VETH_NS" netns "$NS"
    ip addr add "$HOST_IP/30" dev "$VETH_HOST"
    ip link set "$VETH_HOST" up
    ip netns exec "$NS" ip addr add "$NS_IP/30" dev "$VETH_NS"
    ip netns exec "$NS" ip link set "$VETH_NS" up
    ip netns exec "$NS" ip link set lo up
}

# Rate on both ends of the veth: tbf with a burst of at least 4 ms of traffic and a
# 256 KiB floor (GSO hands veth segments of up to 64 KiB; a smaller bucket drops them).
net_rate() { # RATE_MBIT
    ((USE_NETNS)) || return 0
    local mbit=$1 burst
    burst=$((mbit * 1000000 / 8 / 250))
    ((burst < 262144)) && burst=262144
    tc qdisc replace dev "$VETH_HOST" root tbf rate "${mbit}mbit" burst "$burst" latency 100ms
    ip netns exec "$NS" tc qdisc replace dev "$VETH_NS" root tbf rate "${mbit}mbit" burst "$burst" latency 100ms
}

# Prefix that runs a command in the namespace. Used as "${NS_EXEC[@]}" cmd, never through
# a function, so that `cmd &` records the command's own PID (a function would run in a
# subshell whose PID is not the server's).
NS_EXEC=()

wait_tcp() { # host port seconds
    local i
    for ((i = 0; i < $3 * 5; i++)); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

# SeaweedFS `weed mini` in the namespace with its own credentials and Prometheus
# metrics (per-action S3 request counters, read by s3_counts).
start_weed() { # weed-binary data-dir
    local weed=$1 dir=$2
    mkdir -p "$dir/data"
    S3_KEY=net$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
    S3_SECRET=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')
    (umask 077; printf '{"identities":[{"name":"bench","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]}]}\n' \
        "$S3_KEY" "$S3_SECRET" >"$dir/s3.json")
    local p
    for p in $(seq "$PORT_BASE" $((PORT_BASE + 5))) $(seq $((PORT_BASE + 10000)) $((PORT_BASE + 10005))); do
        if compgen -G "/tmp/seaweedfs-*-$p.sock" >/dev/null; then
            net_log "a SeaweedFS socket for port $p exists in /tmp; set NET_ID to another number"
            return 1
        fi
    done
    "${NS_EXEC[@]}" "$weed" mini -dir="$dir/data" -ip="$NS_IP" -ip.bind="$NS_IP" \
        -master.port="$PORT_BASE" -volume.port=$((PORT_BASE + 1)) -filer.port=$((PORT_BASE + 2)) \
        -s3.port="$S3_PORT" -admin.port=$((PORT_BASE + 4)) \
        -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false \
        -s3.config="$dir/s3.json" -bucket=stash \
        -master.telemetry=false -admin.ui=false \
        -metricsPort="$METRICS_PORT" -metricsIp="$NS_IP" \
        >"$dir/weed.log" 2>&1 </dev/null &
    NET_PIDS+=($!)
    wait_tcp "$NS_IP" "$S3_PORT" 90 || { tail -n 30 "$dir/weed.log" >&2; return 1; }
    local i code
    for ((i = 0; i < 150; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://$NS_IP:$S3_PORT/stash" || true)
        [[ "$code" =~ ^(200|403)$ ]] && grep -q "S3 Endpoint" "$dir/weed.log" && return 0
        sleep 0.2
    done
    tail -n 30 "$dir/weed.log" >&2
    return 1
}

start_azurite() { # azurite-blob-binary data-dir
    mkdir -p "$2"
    (cd "$2" && exec "${NS_EXEC[@]}" "$1" --blobHost "$NS_IP" --blobPort "$AZ_PORT" --inMemoryPersistence \
        --disableTelemetry --skipApiVersionCheck >"$2/azurite.log" 2>&1 </dev/null) &
    NET_PIDS+=($!)
    wait_tcp "$NS_IP" "$AZ_PORT" 60 || { tail -n 30 "$2/azurite.log" >&2; return 1; }
}

# A relay on 127.0.0.1 (this namespace) to UPSTREAM adding DELAY_MS per direction,
# counting requests into the stats file; sets RELAY_ADDR and RELAY_PID.
start_relay() { # relay-binary upstream delay_ms log [stats-file]
    : >"$4"
    "$1" 127.0.0.1:0 "$2" "$3" ${5:+"$5"} >"$4" 2>&1 &
    RELAY_PID=$!
    NET_PIDS+=("$RELAY_PID")
    local i
    for ((i = 0; i < 50; i++)); do
        RELAY_ADDR=$(head -n1 "$4")
        [[ -n "$RELAY_ADDR" ]] && return 0
        sleep 0.1
    done
    return 1
}

stop_pid() { # pid
    kill -TERM "$1" 2>/dev/null || return 0
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
}

net_down() {
    local p
    for p in "${NET_PIDS[@]}"; do stop_pid "$p"; done
    NET_PIDS=()
    if ((USE_NETNS)); then
        ip netns del "$NS" 2>/dev/null || true # takes the veth pair with it
        ip link del "$VETH_HOST" 2>/dev/null || true
    fi
}

# S3 requests SeaweedFS served so far, by kind: "GET PUT LIST HEAD OTHER" (cumulative;
# the caller subtracts). Every client is counted the same way, at the server.
s3_counts() {
    curl -s "http://$NS_IP:$METRICS_PORT/metrics" | awk '
        /^SeaweedFS_s3_request_total/ {
            match($0, /type="[^"]*"/); t = substr($0, RSTART + 6, RLENGTH - 7)
            v = $NF
            if (t ~ /^(GetObject|GET)$/) g += v
            else if (t ~ /^(PutObject|PUT|CopyObject|UploadPart|PutObjectPart|NewMultipartUpload|CreateMultipartUpload|CompleteMultipartUpload|CompleteMultipart)$/) p += v
            else if (t ~ /^LIST/) l += v
            else if (t ~ /^HEAD/) h += v
            else o += v
        }
        END { printf "%d %d %d %d %d\n", g, p, l, h, o }'
}
