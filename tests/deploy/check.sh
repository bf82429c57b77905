#!/usr/bin/env bash
# tests/deploy/check.sh: validates the deployment files without a Docker engine
# or a Kubernetes cluster (./calixio test runs it).
#
#   1. docker-compose config (Debian's docker-compose 1.29) on compose/docker-compose.yml,
#      with and without the `cluster` profile; and that it refuses to run
#      without JWT_SECRET
#   2. the compose model: each daemon gets every variable it reads, only the
#      gateway publishes a port, healthchecks and depends_on conditions exist
#   3. yamllint (.yamllint) on every YAML file of the repository
#   4. kustomize build of deploy/k8s/base and deploy/k8s/overlays/local
#      (kustomize or `kubectl kustomize`; skipped with a note when neither is
#      installed) and a structural check of the manifests (probes, resources,
#      HPAs, Service, Ingress, migration Job)
#   5. every environment variable a daemon reads (the env tables in
#      services/*/main.c and libcommon/cx_daemon.h, plus getenv() calls) is in
#      compose/.env.example AND in the k8s ConfigMap or Secret; secret ones
#      (flagged `true` in the table) are in the Secret only; nothing stale
#   6. the permission table's generated files are current
#   7. README.md's configuration table is tools/env-table.sh's output (build/)
#
# Prints each check; exits 1 if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
pass() { printf '  ok    %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; fails=$((fails + 1)); }
skip() { printf '  skip  %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

COMPOSE=compose/docker-compose.yml
ENV_EXAMPLE=compose/.env.example
# compose needs a JWT_SECRET (the file refuses to start without one)
sed 's/^JWT_SECRET=$/JWT_SECRET=config-check-dummy-secret/' "$ENV_EXAMPLE" >"$TMP/env"

# ---- 1. docker-compose config --------------------------------------------------------
section "docker-compose config ($COMPOSE)"
if command -v docker-compose >/dev/null; then
  dc() { docker-compose --env-file "$TMP/env" -f "$COMPOSE" "$@"; }
  if out=$(dc config -q 2>&1); then pass "config -q"; else fail "config -q: $out"; fi
  if out=$(dc --profile cluster config -q 2>&1); then pass "config -q --profile cluster"; else fail "--profile cluster: $out"; fi
  svcs=$(dc --profile cluster config --services 2>/dev/null | sort | tr '\n' ' ')
  for s in nats nats-2 nats-3 postgres redis livekit migrate auth rooms media webhook gateway; do
    [[ " $svcs " == *" $s "* ]] || fail "service $s missing (have: $svcs)"
  done
  pass "services: $svcs"
  grep -v '^JWT_SECRET=' "$TMP/env" >"$TMP/env-nosecret"
  if out=$(env -u JWT_SECRET docker-compose --env-file "$TMP/env-nosecret" -f "$COMPOSE" config -q 2>&1); then
    fail "compose accepted a missing JWT_SECRET"
  elif [[ $out == *JWT_SECRET* ]]; then
    pass "refuses a missing JWT_SECRET (${out##*: })"
  else
    fail "missing JWT_SECRET: unexpected error: $out"
  fi
  dc --profile cluster config >"$TMP/compose.yml" 2>/dev/null
else
  fail "docker-compose is not installed (apt-get install docker-compose)"
fi

# ---- env tables of the daemons -----------------------------------------------------------
# Output lines: "<VAR> <owner> <secret 0|1>", owner = common | <daemon> | migrate
python3 - "$ROOT" >"$TMP/vars" <<'PY' || fail "could not extract the env tables"
import glob, os, re, sys
root = sys.argv[1]
# (rows may span lines, inside macros too: backslash line continuations)
entry = re.compile(r'\{[\s\\]*"([A-Z][A-Z0-9_]*)"[\s\\]*,[\s\\]*CX_CFG_[A-Z]+[\s\\]*,(.*?)\}', re.S)
getenv = re.compile(r'getenv\(\s*"([A-Z][A-Z0-9_]*)"\s*\)')
out = {}
def add(name, owner, secret):
    key = (name, owner)
    out[key] = out.get(key, 0) or secret
def scan(path, owner):
    text = open(path, encoding="utf-8").read()
    for m in entry.finditer(text):
        body = re.sub(r'\\\s*\n', ' ', m.group(2))      # macro line continuations
        secret = 1 if re.search(r'\btrue\s*$', body.strip()) else 0
        add(m.group(1), owner, secret)
    for m in getenv.finditer(text):
        add(m.group(1), owner, 0)
# CX_DAEMON_STORE_VARS(sc, "AUTH") (cx_daemon.h): <NAME>_DATABASE_URL, REDIS_USER,
# REDIS_PASSWORD, read by the daemons that use the macro only
store_define = re.compile(r'#define CX_DAEMON_STORE_VARS.*?\n(?:.*\\\n)*.*\n')
store_use = re.compile(r'CX_DAEMON_STORE_VARS\(\s*\w+\s*,\s*"([A-Z]+)"\s*\)')
def scan_text(text, owner):
    for m in entry.finditer(text):
        body = re.sub(r'\\\s*\n', ' ', m.group(2))
        add(m.group(1), owner, 1 if re.search(r'\btrue\s*$', body.strip()) else 0)
daemon_h = open(os.path.join(root, "libcommon/cx_daemon.h"), encoding="utf-8").read()
scan_text(store_define.sub("", daemon_h), "common")
scan(os.path.join(root, "libcommon/cx_natsconn.h"), "common")
for f in sorted(glob.glob(os.path.join(root, "libcommon/*.c"))):
    scan(f, "common")
for f in sorted(glob.glob(os.path.join(root, "services/*/*.c"))):
    scan(f, f.split(os.sep)[-2])
    for m in store_use.finditer(open(f, encoding="utf-8").read()):
        owner = f.split(os.sep)[-2]
        add(m.group(1) + "_DATABASE_URL", owner, 1)
        add("REDIS_USER", owner, 0)
        add("REDIS_PASSWORD", owner, 1)
for f in sorted(glob.glob(os.path.join(root, "tools/cx-migrate.c"))):
    scan(f, "migrate")
for (name, owner), secret in sorted(out.items()):
    print(name, owner, secret)
PY
nvars=$(cut -d' ' -f1 "$TMP/vars" | sort -u | wc -l)
owners=$(cut -d' ' -f2 "$TMP/vars" | sort -u | tr '\n' ' ')
section "environment variables the daemons read: $nvars (from: $owners)"
[ "$nvars" -ge 20 ] || fail "only $nvars variables found: is the extraction broken?"
for d in auth rooms media webhook gateway; do
  [ -f "services/$d/main.c" ] || skip "services/$d/main.c does not exist yet: its variables are not checked"
done

# ---- 2. compose model ------------------------------------------------------------------------
section "compose model"
if [ -s "$TMP/compose.yml" ]; then
  python3 - "$TMP/compose.yml" "$TMP/vars" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
svcs = cfg["services"]
daemons = ["auth", "rooms", "media", "webhook", "gateway"]
reads = {}
for line in open(sys.argv[2]):
    name, owner, _ = line.split()
    reads.setdefault(owner, set()).add(name)
bad = 0
def say(ok, msg):
    global bad
    print(("  ok    " if ok else "  FAIL  ") + msg)
    bad += 0 if ok else 1
for d in daemons:
    s = svcs.get(d, {})
    env = s.get("environment") or {}
    need = reads.get("common", set()) | reads.get(d, set())
    missing = sorted(n for n in need - set(env) if n + "_FILE" not in env)
    say(not missing, f"{d}: environment has all {len(need)} variables it reads" + (f"; missing {missing}" if missing else ""))
    say(s.get("command", [None])[0] == f"cx-{d}", f"{d}: command cx-{d}")
    hc = (s.get("healthcheck") or {}).get("test")
    say(bool(hc), f"{d}: healthcheck {hc}")
    deps = s.get("depends_on") or {}
    if d != "gateway":
        ok = deps.get("migrate", {}).get("condition") == "service_completed_successfully"
        say(ok, f"{d}: depends_on migrate: service_completed_successfully")
        say(all(deps.get(x, {}).get("condition") == "service_healthy" for x in ("nats", "postgres", "redis")),
            f"{d}: depends_on nats/postgres/redis: service_healthy")
        say(not s.get("ports") and not s.get("container_name"), f"{d}: no ports, no container_name (so --scale works)")
    else:
        say(all(deps.get(x, {}).get("condition") == "service_healthy" for x in ("auth", "rooms", "media", "webhook")),
            "gateway: depends_on every service: service_healthy")
        say(bool(s.get("ports")), f"gateway: publishes {s.get('ports')}")
    say(s.get("image") == svcs["migrate"].get("image"), f"{d}: same image as migrate ({s.get('image')})")
m = svcs.get("migrate", {})
menv = m.get("environment") or {}
need = reads.get("migrate", set())
say(m.get("command") == ["cx-migrate", "up"] and need <= set(menv), f"migrate: cx-migrate up with {sorted(need)}")
say(m.get("restart") == "no", "migrate: one-shot (restart: no)")
for n in ("nats-2", "nats-3"):
    say(svcs.get(n, {}).get("profiles") == ["cluster"], f"{n}: only in profile cluster")
say(not svcs["nats"].get("profiles"), "nats (node 1): always on")
lk = svcs.get("livekit", {})
say("--dev" in (lk.get("command") or []), "livekit: --dev")
sys.exit(1 if bad else 0)
PY
  [ $? = 0 ] || fails=$((fails + 1))
  # the dev LiveKit config must send webhooks to the gateway with the dev key
  python3 - compose/livekit.yaml <<'PY' && pass "livekit.yaml: webhook to http://gateway:8080/livekit/webhook, key devkey/secret" || fail "compose/livekit.yaml webhook settings"
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
assert c["webhook"]["urls"] == ["http://gateway:8080/livekit/webhook"], c["webhook"]
assert c["webhook"]["api_key"] == "devkey" and c["keys"]["devkey"] == "secret"
PY
else
  skip "no rendered compose file"
fi
# the health probe used by compose and k8s must be valid sh and be in the image
if sh -n compose/cx-health && grep -q 'compose/cx-health' compose/Dockerfile; then pass "compose/cx-health: valid sh, copied by the Dockerfile"; else fail "compose/cx-health"; fi
if grep -q '^USER 10001' compose/Dockerfile && [ "$(grep -c '^FROM debian:bookworm-slim' compose/Dockerfile)" = 2 ]; then
  pass "Dockerfile: two debian:bookworm-slim stages, non-root user"
else
  fail "Dockerfile: expected two debian:bookworm-slim stages and USER 10001"
fi

# the runtime stage installs a Debian package for every library the daemons
# link (checked on the binaries of $CX_BUILD_DIR or build/, when built)
bdir=${CX_BUILD_DIR:-$ROOT/build}
runtime_pkgs=$(sed -n '/^FROM debian:bookworm-slim AS runtime/,$p' compose/Dockerfile | grep -oE 'lib[a-z0-9.+-]+|curl|ca-certificates' | sort -u)
if ls "$bdir"/cx-gateway "$bdir"/cx-auth >/dev/null 2>&1 && command -v readelf >/dev/null && command -v dpkg >/dev/null; then
  missing_pkgs=()
  for b in "$bdir"/cx-auth "$bdir"/cx-rooms "$bdir"/cx-media "$bdir"/cx-webhook "$bdir"/cx-gateway "$bdir"/cx-migrate; do
    [ -x "$b" ] || continue
    for so in $(readelf -d "$b" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
      case $so in libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | libgcc_s.so.* | libasan.so.* | libubsan.so.*) continue ;; esac
      path=$(ldd "$b" | awk -v so="$so" '$1 == so { print $3 }')
      pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1)
      grep -qx "${pkg:-?}" <<<"$runtime_pkgs" || missing_pkgs+=("$so(${pkg:-unknown})")
    done
  done
  if [ ${#missing_pkgs[@]} = 0 ]; then
    pass "Dockerfile runtime stage installs the package of every library the daemons link ($bdir)"
  else
    fail "Dockerfile runtime stage lacks: $(printf '%s\n' "${missing_pkgs[@]}" | sort -u | tr '\n' ' ')"
  fi
else
  skip "no built daemons in $bdir: runtime libraries of the Dockerfile not checked"
fi

# ---- 3. yamllint -------------------------------------------------------------------------------
section "yamllint (.yamllint)"
mapfile -t yamls < <(find . \( -path ./tests/node_modules -o -path './build*' -o -path ./.calixio -o -path ./.git -o -name node_modules \) -prune -o \
  \( -name '*.yml' -o -name '*.yaml' -o -name .yamllint \) -type f -print | sort)
if ! command -v yamllint >/dev/null; then
  fail "yamllint is not installed (apt-get install yamllint)"
elif out=$(yamllint -c .yamllint -f parsable "${yamls[@]}" 2>&1); then
  pass "${#yamls[@]} files clean of errors${out:+ (warnings: $(echo "$out" | grep -c warning))}"
  [ -z "$out" ] || echo "$out" | sed 's/^/        /'
else
  fail "yamllint:"
  echo "$out" | sed 's/^/        /'
fi

# ---- 4. kustomize ----------------------------------------------------------------------------------
section "kustomize (deploy/k8s)"
KUSTOMIZE=()
if command -v kustomize >/dev/null; then KUSTOMIZE=(kustomize build)
elif command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then KUSTOMIZE=(kubectl kustomize)
fi
cp -r deploy "$TMP/deploy"
cp "$TMP/deploy/k8s/overlays/local/secrets.env.example" "$TMP/deploy/k8s/overlays/local/secrets.env"
rendered=()
if [ ${#KUSTOMIZE[@]} = 0 ]; then
  skip "neither kustomize nor kubectl is installed: the overlays are not built; checking base/*.yaml as plain files"
  for f in deploy/k8s/base/*.yaml; do echo "---"; cat "$f"; done >"$TMP/base.yaml"
  rendered=("$TMP/base.yaml")
else
  for k in base overlays/local; do
    if out=$("${KUSTOMIZE[@]}" "$TMP/deploy/k8s/$k" 2>&1 >"$TMP/k-${k//\//-}.yaml"); then
      pass "${KUSTOMIZE[*]} deploy/k8s/$k ($(grep -c '^kind:' "$TMP/k-${k//\//-}.yaml") objects)"
      rendered+=("$TMP/k-${k//\//-}.yaml")
    else
      fail "${KUSTOMIZE[*]} deploy/k8s/$k: $out"
    fi
  done
fi
for r in "${rendered[@]}"; do
  python3 - "$r" "$TMP/vars" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") and d.get("metadata")]
label = sys.argv[1].rsplit("/", 1)[-1]
by = {}
for d in docs:
    by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
bad = 0
def say(ok, msg):
    global bad
    print(("  ok    " if ok else "  FAIL  ") + f"[{label}] " + msg)
    bad += 0 if ok else 1
cms = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("calixio-config")]
secs = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].startswith("calixio-secrets")]
say(len(cms) == 1 and len(secs) == 1, "one ConfigMap calixio-config and one Secret calixio-secrets")
cm_keys = set(cms[0].get("data", {})) if cms else set()
sec_keys = set((secs[0].get("stringData") or {})) | set(secs[0].get("data") or {}) if secs else set()
cm_name = cms[0]["metadata"]["name"] if cms else ""
sec_name = secs[0]["metadata"]["name"] if secs else ""
for d in ["auth", "rooms", "media", "webhook", "gateway"]:
    dep = by.get("Deployment", {}).get(f"calixio-{d}")
    if not dep:
        say(False, f"Deployment calixio-{d} missing")
        continue
    c = dep["spec"]["template"]["spec"]["containers"][0]
    say(c.get("command") == [f"cx-{d}"], f"{d}: command cx-{d}")
    lp, rp = c.get("livenessProbe"), c.get("readinessProbe")
    say(bool(lp and rp), f"{d}: liveness and readiness probes")
    if d == "gateway":
        say(rp and rp.get("httpGet", {}).get("path") == "/readyz" and lp.get("httpGet", {}).get("path") == "/healthz",
            "gateway: readiness GET /readyz, liveness GET /healthz")
    else:
        say(rp and rp.get("exec", {}).get("command") == ["cx-health", d, "ready"]
            and lp.get("exec", {}).get("command") == ["cx-health", d, "live"], f"{d}: exec probes cx-health {d} live|ready")
    res = c.get("resources", {})
    say(all(k in res.get("requests", {}) for k in ("cpu", "memory")) and all(k in res.get("limits", {}) for k in ("cpu", "memory")),
        f"{d}: resource requests and limits")
    refs = {(list(e)[0], list(e.values())[0]["name"]) for e in c.get("envFrom", [])}
    say(("configMapRef", cm_name) in refs and ("secretRef", sec_name) in refs, f"{d}: envFrom {cm_name} + {sec_name}")
    ps = dep["spec"]["template"]["spec"].get("securityContext", {})
    say(ps.get("runAsNonRoot") is True, f"{d}: runAsNonRoot")
for d in ["gateway", "media"]:
    h = by.get("HorizontalPodAutoscaler", {}).get(f"calixio-{d}")
    say(bool(h) and h["spec"]["scaleTargetRef"]["name"] == f"calixio-{d}", f"HPA for {d}")
    dep = by.get("Deployment", {}).get(f"calixio-{d}", {})
    say("replicas" not in dep.get("spec", {}), f"{d}: Deployment leaves replicas to the HPA")
svc = by.get("Service", {}).get("calixio-gateway")
say(bool(svc), "Service calixio-gateway")
ing = by.get("Ingress", {}).get("calixio-gateway")
say(bool(ing) and ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "calixio-gateway",
    "Ingress -> Service calixio-gateway")
job = by.get("Job", {}).get("calixio-migrate")
say(bool(job) and job["spec"]["template"]["spec"]["containers"][0]["command"] == ["cx-migrate", "up"], "Job calixio-migrate: cx-migrate up")
# every variable a daemon reads is set, secrets only in the Secret
reads = {}
for line in open(sys.argv[2]):
    name, owner, secret = line.split()
    reads[name] = reads.get(name, 0) or int(secret)
# per-daemon credentials are set in each Deployment (env, often NAME_FILE)
dep_env = set()
for dep in list(by.get("Deployment", {}).values()) + list(by.get("Job", {}).values()):
    for c in dep["spec"]["template"]["spec"]["containers"]:
        dep_env |= {e["name"] for e in c.get("env", [])}
provided = cm_keys | sec_keys | dep_env | {n[:-5] for n in dep_env if n.endswith("_FILE")}
missing = sorted(n for n in reads if n not in provided)
say(not missing, f"all {len(reads)} variables in ConfigMap/Secret" + (f"; missing {missing}" if missing else ""))
leaked = sorted(n for n, s in reads.items() if s and n in cm_keys)
say(not leaked, "secret variables are not in the ConfigMap" + (f"; found {leaked}" if leaked else ""))
notsec = sorted(n for n, s in reads.items() if s and n not in sec_keys and n + "_FILE" not in dep_env and n not in dep_env)
literal = sorted({e["name"] for dep in list(by.get("Deployment", {}).values()) + list(by.get("Job", {}).values()) for c in dep["spec"]["template"]["spec"]["containers"]
                  for e in c.get("env", []) if "value" in e and reads.get(e["name"], 0)})
say(not literal, "no secret variable as a literal value in a Deployment" + (f"; found {literal}" if literal else ""))
say(not notsec, "secret variables are in the Secret" + (f"; not: {notsec}" if notsec else ""))
stale = sorted((cm_keys | sec_keys) - set(reads))
say(not stale, "no ConfigMap/Secret key that no daemon reads" + (f"; stale: {stale}" if stale else ""))
sys.exit(1 if bad else 0)
PY
  [ $? = 0 ] || fails=$((fails + 1))
done

# ---- 5. .env.example ---------------------------------------------------------------------------------
section "compose/.env.example lists every variable"
COMPOSE_ONLY="CALIXIO_IMAGE CALIXIO_HTTP_PORT POSTGRES_PASSWORD"
# set per daemon by docker-compose.yml (from the *_PASSWORD_<NAME> values), not in .env
PER_DAEMON="NATS_USER NATS_PASSWORD NATS_NKEY_SEED_FILE NATS_CREDS REDIS_USER REDIS_PASSWORD AUTH_DATABASE_URL ROOMS_DATABASE_URL MEDIA_DATABASE_URL WEBHOOK_DATABASE_URL"
example_keys=$(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$ENV_EXAMPLE" | sort -u)
missing=()
for v in $(cut -d' ' -f1 "$TMP/vars" | sort -u); do
  [[ " $PER_DAEMON " == *" $v "* ]] && continue
  grep -qx "$v" <<<"$example_keys" || missing+=("$v")
done
if [ ${#missing[@]} = 0 ]; then pass "all $nvars variables are in $ENV_EXAMPLE"; else fail "missing in $ENV_EXAMPLE: ${missing[*]}"; fi
stale=()
for v in $example_keys; do
  [[ " $COMPOSE_ONLY " == *" $v "* ]] && continue
  [[ $v =~ ^(NATS|PG|REDIS)_PASSWORD_[A-Z]+$ ]] && continue # compose-only: per-daemon passwords
  grep -q "^$v " "$TMP/vars" || stale+=("$v")
done
if [ ${#stale[@]} = 0 ]; then pass "no stale name in $ENV_EXAMPLE (compose-only: $COMPOSE_ONLY)"; else fail "in $ENV_EXAMPLE but read by no daemon: ${stale[*]}"; fi
dups=$(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$ENV_EXAMPLE" | sort | uniq -d | tr '\n' ' ')
if [ -z "$dups" ]; then pass "no duplicate names"; else fail "duplicate names in $ENV_EXAMPLE: $dups"; fi

# ---- 6. the permission table --------------------------------------------------------------------
section "permission table (deploy/permissions/calixio.tsv, tools/cx-perms)"
if tools/cx-perms rows >"$TMP/rows" 2>"$TMP/rows.err"; then pass "$(wc -l <"$TMP/rows") rows, every principal declared"; else fail "cx-perms rows: $(cat "$TMP/rows.err")"; fi
if tools/cx-perms pg >/dev/null 2>"$TMP/pg.err"; then pass "cx-perms pg"; else fail "cx-perms pg: $(cat "$TMP/pg.err")"; fi
if diff -u compose/nats-auth.conf <(tools/cx-perms nats) >"$TMP/nats.diff"; then pass "compose/nats-auth.conf is generated from the table"; else fail "compose/nats-auth.conf is stale (tools/cx-perms nats > compose/nats-auth.conf): $(head -20 "$TMP/nats.diff")"; fi
if diff -u compose/redis-users.acl <(tools/cx-perms redis --template) >"$TMP/redis.diff"; then pass "compose/redis-users.acl is generated from the table"; else fail "compose/redis-users.acl is stale (tools/cx-perms redis --template > compose/redis-users.acl): $(head -20 "$TMP/redis.diff")"; fi
if diff -u deploy/k8s/base/permissions/nats-auth.conf <(tools/cx-perms nats) >/dev/null 2>&1; then pass "deploy/k8s/base/permissions/nats-auth.conf is generated from the table"; else fail "deploy/k8s/base/permissions/nats-auth.conf is stale (tools/cx-perms nats > it)"; fi
if diff -u deploy/k8s/base/permissions/redis-users.acl <(tools/cx-perms redis --template) >/dev/null 2>&1; then pass "deploy/k8s/base/permissions/redis-users.acl is generated from the table"; else fail "deploy/k8s/base/permissions/redis-users.acl is stale"; fi
if sh -n compose/redis-acl.sh && sh -n compose/pg-roles.sh; then pass "compose/redis-acl.sh, compose/pg-roles.sh: valid sh"; else fail "compose/redis-acl.sh / pg-roles.sh"; fi

# ---- 7. the README's configuration table ---------------------------------------------------------
section "README.md configuration table (tools/env-table.sh over the daemons' --help)"
TBUILD=${CX_TABLE_BUILD_DIR:-build}
if [ -x "$TBUILD/cx-gateway" ]; then
  awk '/^\| variable \| default \| read by \| meaning \|$/{on=1} on && !/^\|/{exit} on' README.md >"$TMP/readme-env.md"
  if tools/env-table.sh "$TBUILD" >"$TMP/env-table.md" 2>"$TMP/env-table.err" &&
    diff -u "$TMP/readme-env.md" "$TMP/env-table.md" >"$TMP/env-table.diff"; then
    pass "README.md's table is what the daemons' --help say ($(($(wc -l <"$TMP/env-table.md") - 2)) variables)"
  else
    fail "README.md's configuration table differs from tools/env-table.sh $TBUILD: $(cat "$TMP/env-table.err") $(head -20 "$TMP/env-table.diff")"
  fi
else
  fail "README.md configuration table: no $TBUILD/cx-gateway to ask (./calixio build first)"
fi

echo
if [ "$fails" = 0 ]; then echo "deploy checks: all passed"; else echo "deploy checks: $fails FAILED"; fi
[ "$fails" = 0 ]
