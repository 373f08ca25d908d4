#!/usr/bin/env python3
"""Turns bench/net/run.sh's results.tsv and facts.tsv into the markdown of
docs/benchmarks.md's network sections. Usage: report.py BENCH_DIR."""
import json
import os
import statistics
import sys
from collections import defaultdict

INTRO = """## Over a network: same-region and cross-region S3 (issue 17)

Produced by `sudo bash bench/net/run.sh` (from the repo root; `PROFILES`, `PROJECTS`,
`JOBS_SWEEP`, `SCALE` narrow it, see its header). SeaweedFS runs in a network namespace
the script creates, behind a veth pair rate-limited on both ends with `tc tbf`; latency
comes from `stash-net-relay` (tests/harness/relay.rs, a Rust relay so that it keeps up
with 2 Gbit/s; the same code the network tests use), which holds every chunk for the
one-way delay in each direction, in order, so a request/response costs one RTT however
many connections are open. The relay also counts every HTTP request by kind (GET, PUT,
LIST, HEAD, other) for every client alike; SeaweedFS's own Prometheus counters cannot
tell a HEAD from a GET. Single runs (no medians): on this shared machine read ratios,
not seconds.

Anchors, as the tools do it (checked against their sources):
- tar+zstd: `tar --posix | zstd -T0 -3 | aws s3 cp - s3://...` (AWS CLI, multipart
  8 MiB parts, 10 threads) and `aws s3 cp s3://... - | zstd -d | tar -x`;
- the GitLab runner's S3 cache: one zip archive (deflate at its default level;
  `CACHE_COMPRESSION_FORMAT` defaults to zip) moved with one presigned PUT and one
  presigned GET (here `zip -r -6` / `unzip` and `curl` with botocore-presigned URLs);
- the Buildkite cache plugin's `s3` backend (buildkite-plugins/cache-buildkite-plugin,
  `backends/cache_s3`): `aws s3api list-objects-v2 --max-items 1` to test the key, then
  `aws s3 sync` of the folder (compression defaults to none: one object per file).

All of them move the same files cargo-stash keeps (target/ without `incremental/` and
`*.d`); anchors restore into an empty dir, cargo-stash into a fresh clone at the saved
path (then `cargo build` counts fresh units). cargo-stash runs with `--no-registry` and
its default `--jobs` (4 per core = 8 here) unless the `--jobs` table says otherwise.
"""


def splice(doc_path, body_path):
    body = open(body_path).read().rstrip("\n")
    block = f"<!-- network:begin -->\n{INTRO}\n{body}\n<!-- network:end -->"
    text = open(doc_path).read()
    a, b = text.find("<!-- network:begin -->"), text.find("<!-- network:end -->")
    if a >= 0 and b > a:
        text = text[:a] + block + text[b + len("<!-- network:end -->"):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(doc_path, "w").write(text)


if sys.argv[1] == "--splice":
    splice(sys.argv[2], sys.argv[3])
    sys.exit(0)
d = sys.argv[1]
rows = defaultdict(list)  # (profile, project, op, tool) -> [dict]
for line in open(os.path.join(d, "results.tsv")):
    f = line.rstrip("\n").split("\t")
    if len(f) < 14:
        continue
    prof, proj, op, tool = f[:4]
    g, p, l, h, o, up, down = (int(x) for x in f[5:12])
    rows[(prof, proj, op, tool)].append(
        dict(s=float(f[4]), get=g, put=p, list=l, head=h, other=o, up=up, down=down,
             rss=int(f[12] or 0), load=f[13]))
facts = {}
for line in open(os.path.join(d, "facts.tsv")):
    f = line.rstrip("\n").rstrip("\t").split("\t")
    facts[tuple(f[:-1])] = f[-1]


def js(name):
    try:
        return json.load(open(os.path.join(d, name)))
    except (OSError, ValueError):
        return {}


def one(prof, proj, op, tool):
    r = rows.get((prof, proj, op, tool))
    return r[-1] if r else None


def mib(b):
    return f"{b / 1048576:.1f} MiB"


def reqs(r):
    return f"{r['get']} / {r['put']} / {r['list']} / {r['head']} / {r['other']}"


def ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b else "n/a"


def verdict(ok):
    return "met" if ok else "**not met**"


PROFILES = {"same": "Same region: 2 ms RTT, 2 Gbit/s", "cross": "Cross region: 40 ms RTT, 400 Mbit/s"}
TOOLS = [("cargo-stash", "cargo-stash"), ("tar-zstd-awscli", "tar+zstd, one object, `aws s3 cp`"),
         ("gitlab-zip", "GitLab runner way: zip, one presigned PUT/GET"),
         ("buildkite-sync", "Buildkite plugin way: `aws s3 sync` of the folder")]
NAMES = {"ws": "workspace fixture (tests/fixtures/workspace)", "bat": "bat 0.24.0"}
out = []
w = out.append
profiles = [p for p in ("same", "cross") if any(k[0] == p for k in rows)]
projects = [p for p in ("ws", "bat") if any(k[1] == p for k in rows)]
w(f"Load average (1, 5, 15 min) at start: {facts.get(('load_start',), '?')}; at end: "
  f"{facts.get(('load_end',), '?')}; {facts.get(('minutes',), '?')} minutes; cargo-stash "
  f"{facts.get(('stash',), '?')} (release). Network namespace: "
  f"{'yes (veth + tbf + relay)' if facts.get(('netns',)) == '1' else 'NO: not root, loopback + relay only, no rate limit'}.")
w("")
w("| profile | small GET (≈ 1 RTT), s | 64 MiB GET, s | measured rate |")
w("|---|---:|---:|---:|")
for prof in profiles:
    sm = float(facts.get((prof, "link", "small_get_s"), "nan"))
    bg = float(facts.get((prof, "link", "big_get_s"), "nan"))
    w(f"| {PROFILES[prof]} | {sm:.4f} | {bg:.3f} | {64 * 8 * 1.048576 / bg:.0f} Mbit/s |")
w("")
for prof in profiles:
    w(f"### {PROFILES[prof]}")
    w("")
    w("| target (issue 17) | measured | verdict |")
    w("|---|---|---|")
    for proj in projects:
        anc_s = one(prof, proj, "first_save", "tar-zstd-awscli")
        anc_r = one(prof, proj, "restore", "tar-zstd-awscli")
        cs_s = one(prof, proj, "first_save", "cargo-stash")
        cs_r = one(prof, proj, "restore", "cargo-stash")
        nc = one(prof, proj, "nochange_save", "cargo-stash")
        de = one(prof, proj, "delta_save", "cargo-stash")
        if not (anc_s and anc_r and cs_s and cs_r):
            continue
        rj = js(f"{prof}-{proj}-restore.json")
        fj = js(f"{prof}-{proj}-first.json")
        dj = js(f"{prof}-{proj}-delta.json")
        rr = cs_r["s"] / anc_r["s"]
        w(f"| {proj}: restore ≤ 0.7× the single object | {rr:.2f}× ({cs_r['s']:.2f} s vs {anc_r['s']:.2f} s) | {verdict(rr <= 0.7)} |")
        sr = cs_s["s"] / anc_s["s"]
        w(f"| {proj}: first save ≤ 1.0× | {sr:.2f}× ({cs_s['s']:.2f} s vs {anc_s['s']:.2f} s) | {verdict(sr <= 1.0)} |")
        if nc:
            packs = rj.get("packs", 0)
            total_r = cs_r["get"] + cs_r["put"] + cs_r["list"] + cs_r["head"] + cs_r["other"]
            lookup = total_r - packs
            ncn = nc["get"] + nc["put"] + nc["list"] + nc["head"] + nc["other"]
            w(f"| {proj}: no-change save ≤ lookup + 3 requests | {ncn} requests ({reqs(nc)} G/P/L/H/other); lookup = restore's {total_r} requests − {packs} pack GETs = {lookup} | {verdict(ncn <= lookup + 3)} |")
        if de and dj and fj:
            frac = dj.get("bytes_uploaded", 0) / max(1, fj.get("bytes_uploaded", 1))
            tr = de["s"] / anc_s["s"]
            w(f"| {proj}: delta save ≤ 10 % of the bytes and ≤ 0.3× the anchor's time | {frac * 100:.1f} % ({mib(dj.get('bytes_uploaded', 0))} of {mib(fj.get('bytes_uploaded', 0))}); {tr:.2f}× ({de['s']:.2f} s vs {anc_s['s']:.2f} s) | {verdict(frac <= 0.10 and tr <= 0.3)} |")
    w("")
    for proj in projects:
        if not one(prof, proj, "first_save", "cargo-stash"):
            continue
        w(f"#### {NAMES[proj]}, {prof} region")
        w("")
        w("| operation | tool | time, s | vs tar+zstd | requests G / P / L / H / other | sent | received | peak RSS |")
        w("|---|---|---:|---:|---:|---:|---:|---:|")
        for op, opname in [("first_save", "first save"), ("restore", "restore"),
                           ("nochange_save", "no-change save"), ("delta_save", "delta save")]:
            base = one(prof, proj, "first_save" if op == "delta_save" else op, "tar-zstd-awscli")
            for tool, tname in TOOLS:
                r = one(prof, proj, op, tool)
                if not r:
                    continue
                w(f"| {opname} | {tname} | {r['s']:.2f} | {ratio(r['s'], base['s'] if base else None)} | {reqs(r)} | {mib(r['up'])} | {mib(r['down'])} | {r['rss'] * 1024 / 1e6:.0f} MB |")
        fresh = facts.get((prof, proj, "fresh_after_restore"), "?")
        w("")
        zipb = facts.get((prof, proj, "gitlab_bytes"))
        dj = js(f"{prof}-{proj}-delta.json")
        w(f"Units fresh in the build after cargo-stash's restore: {fresh}. Compressed size: "
          f"tar+zstd {mib(int(facts.get((prof, proj, 'anchor_bytes'), 0) or 0))}"
          + (f", zip {mib(int(zipb))}" if zipb else "") + ". Delta save: "
          f"{dj.get('packs_uploaded', '?')} of {dj.get('packs', '?')} packs uploaded, "
          f"{dj.get('packs_patched', '?')} as patches. \"vs tar+zstd\" for the delta save is "
          "against the anchor's full save (a single-object cache uploads everything again).")
        w("")
    sweep = sorted({k[2] for k in rows if k[0] == prof and "_jobs" in k[2]},
                   key=lambda s: (s.split("_jobs")[0], int(s.split("_jobs")[1])))
    if sweep:
        proj = next(k[1] for k in rows if k[0] == prof and "_jobs" in k[2])
        w(f"`--jobs` on this link ({proj}; save to a new prefix, restore into an empty target dir):")
        w("")
        w("| --jobs | first save, s | restore, s | restore MB/s (compressed, received) |")
        w("|---:|---:|---:|---:|")
        for j in sorted({int(s.split("_jobs")[1]) for s in sweep}):
            sv = one(prof, proj, f"first_save_jobs{j}", "cargo-stash")
            rs = one(prof, proj, f"restore_jobs{j}", "cargo-stash")
            if sv and rs:
                w(f"| {j} | {sv['s']:.2f} | {rs['s']:.2f} | {rs['down'] / 1e6 / rs['s']:.0f} |")
        w("")
    az = [(op, one(prof, p, op, "cargo-stash-azurite")) for p in projects for op in ("first_save", "restore")]
    az = [(op, r) for op, r in az if r]
    if az:
        w("Azurite (Azure Blob) on the same link, cargo-stash: " + "; ".join(
            f"{op.replace('_', ' ')} {r['s']:.2f} s, {reqs(r)} G/P/L/H/other" for op, r in az) + ".")
        w("")
w("### What to expect on your CI")
w("")
w("cargo-stash beside one tar+zstd object, same run, " + ", ".join(NAMES[p] for p in projects) + ":")
w("")
w("| where the cache lives | project | restore: cargo-stash / tar+zstd, s | first save: cargo-stash / tar+zstd, s |")
w("|---|---|---:|---:|")
for prof, label, anchor in [("local", "local disk (file:// store; tar to a file)", "tar-zstd-local"),
                            ("same", "S3 in the runner's region (2 ms, 2 Gbit/s)", "tar-zstd-awscli"),
                            ("cross", "S3 in another region (40 ms, 400 Mbit/s)", "tar-zstd-awscli")]:
    for proj in projects:
        cr, ar = one(prof, proj, "restore", "cargo-stash"), one(prof, proj, "restore", anchor)
        cs, as_ = one(prof, proj, "first_save", "cargo-stash"), one(prof, proj, "first_save", anchor)
        if cr and ar and cs and as_:
            w(f"| {label} | {proj} | {cr['s']:.2f} / {ar['s']:.2f} ({ratio(cr['s'], ar['s'])}) | {cs['s']:.2f} / {as_['s']:.2f} ({ratio(cs['s'], as_['s'])}) |")
w("")
scale = [(n, one("same", f"scale{n}", "first_save", "cargo-stash"), one("same", f"scale{n}", "restore", "cargo-stash")) for n in (1, 2, 4)]
scale = [(n, s, r) for n, s, r in scale if s and r]
if scale:
    w("### How cost grows (same-region link)")
    w("")
    w("| cache | kept bytes | save, s | save MB/s | restore, s | restore MB/s | packs saved / restored | requests save G/P/L/H/other | requests restore | peak RSS save / restore |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    b1 = int(facts.get(("same", "scale", "bytes_1"), 1))
    for n, s_, r in scale:
        sj, rj = js(f"scale-{n}-save.json"), js(f"scale-{n}-restore.json")
        bt, bw = sj.get("bytes_total", 0), rj.get("bytes_written", 0)
        pb = len(rj.get("path_bound") or [])
        note = f" ({pb} path-bound units left out)" if pb else ""
        w(f"| {n}× ({bt / max(1, js('scale-1-save.json').get('bytes_total', 1)):.2f}× bat) | {mib(bt)} | {s_['s']:.2f} | {bt / 1e6 / s_['s']:.0f} | {r['s']:.2f} | {bw / 1e6 / r['s']:.0f} | {sj.get('packs', '?')} / {rj.get('packs', '?')}{note} | {reqs(s_)} | {reqs(r)} | {s_['rss'] * 1024 / 1e6:.0f} / {r['rss'] * 1024 / 1e6:.0f} MB |")
    w("")
print("\n".join(out))
