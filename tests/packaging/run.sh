#!/usr/bin/env bash
# Packaging and installation checks (issue 18): the man pages render without
# a warning and list every directive of docs/configuration.md (and no other),
# `make install` into a DESTDIR puts every file where it belongs and
# `make uninstall` takes them away again, the unit passes `systemd-analyze
# verify`, the logrotate file parses, the default config path is read, and
# tollgate sends READY=1 on $NOTIFY_SOCKET once it serves.
#
#   tests/packaging/run.sh [BUILD_DIR]     (default build)
#
# Prints "ok NAME" / "FAIL NAME: why" / "skip NAME: why" per check and ends
# with "packaging: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
passed=0
failed=0
tmp=$(mktemp -d /tmp/tollgate-pkg-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
  echo "ok $1"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}
skip() { echo "skip $1: $2"; }

# dpkg or apt may be busy (another install on this machine): wait for its lock.
dpkg_retry() {
  local out
  for _ in $(seq 60); do
    out=$("$@" 2>&1) && return 0
    grep -qi 'lock' <<<"$out" || {
      echo "$out"
      return 1
    }
    sleep 2
  done
  echo "$out"
  return 1
}

# Installs the .deb on this machine (as root only: CI runs as root), checks
# the files, the user, the conffile kept across a reinstall, a gateway that
# answers, then removes and purges it, leaving the machine as it was.
deb_install_checks() {
  local deb=$1
  if [ "$(id -u)" -ne 0 ]; then
    skip "dpkg -i of the .deb" "needs root (CI runs as root); this run is uid $(id -u)"
    return
  fi
  if dpkg-query -W tollgate >/dev/null 2>&1 || [ -e /etc/tollgate ]; then
    skip "dpkg -i of the .deb" "tollgate is already installed here (or /etc/tollgate exists): left alone"
    return
  fi
  local had_user=0 out bad=""
  getent passwd tollgate >/dev/null && had_user=1
  if ! out=$(dpkg_retry dpkg -i "$deb"); then
    fail "dpkg -i of the .deb" "$out"
    dpkg_retry dpkg --purge tollgate >/dev/null
    return
  fi
  [ -x /usr/sbin/tollgate ] || bad+=" no /usr/sbin/tollgate"
  getent passwd tollgate | grep -q ':/var/lib/tollgate:/usr/sbin/nologin$' || bad+=" user: '$(getent passwd tollgate)'"
  [ "$(stat -c %U /var/log/tollgate 2>/dev/null)" = tollgate ] || bad+=" /var/log/tollgate not the user's"
  dpkg-query -W -f='${Conffiles}' tollgate | grep -q '/etc/tollgate/tollgate.conf ' || bad+=" not a conffile"
  [ -z "$(dpkg --verify tollgate 2>&1)" ] || bad+=" dpkg --verify: $(dpkg --verify tollgate 2>&1)"
  man -w tollgate.conf >/dev/null 2>&1 || bad+=" man tollgate.conf not found"
  if [ -z "$bad" ]; then ok "dpkg -i: the files, the tollgate user, its directories, the conffile"; else
    fail "dpkg -i" "$bad"
  fi
  # A change to the config survives a reinstall.
  echo "# changed here" >>/etc/tollgate/tollgate.conf
  dpkg_retry dpkg -i "$deb" >/dev/null
  if tail -n 1 /etc/tollgate/tollgate.conf | grep -qx '# changed here'; then ok "dpkg -i again keeps a changed conffile"; else
    fail "dpkg -i again keeps a changed conffile" "$(tail -n 2 /etc/tollgate/tollgate.conf)"
  fi
  # The installed service's command, as its user, serves the documented port
  # (127.0.0.1:8080) when nothing else on this machine holds it.
  if python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",8080))' 2>/dev/null; then
    runuser -u tollgate -- /usr/sbin/tollgate -t -c /etc/tollgate/tollgate.conf >"$tmp/svc-t.log" 2>&1
    runuser -u tollgate -- /usr/sbin/tollgate -c /etc/tollgate/tollgate.conf 2>"$tmp/svc.err" &
    local svc=$!
    pids+=("$svc")
    local code=""
    for _ in $(seq 100); do
      code=$(curl -s -o "$tmp/svc.body" -w '%{http_code}' http://127.0.0.1:8080/api/version 2>/dev/null) && [ "$code" != 000 ] && break
      sleep 0.05
    done
    kill -TERM "$svc" 2>/dev/null
    wait "$svc" 2>/dev/null
    # 200 from an Ollama on :11434, or tollgate's own 502 when none runs.
    if grep -q 'is valid' "$tmp/svc-t.log" && { [ "$code" = 200 ] || { [ "$code" = 502 ] && grep -q '"error"' "$tmp/svc.body"; }; }; then
      ok "the installed config, run as the tollgate user, serves 127.0.0.1:8080 (HTTP $code)"
    else
      fail "the installed service serves 127.0.0.1:8080" "code '$code'; -t: $(cat "$tmp/svc-t.log"); $(tail -n 3 "$tmp/svc.err")"
    fi
  else
    skip "the installed service serves 127.0.0.1:8080" "the port is in use on this machine"
  fi
  dpkg_retry dpkg -r tollgate >/dev/null
  if [ ! -e /usr/sbin/tollgate ] && [ -f /etc/tollgate/tollgate.conf ]; then ok "dpkg -r removes the binary and keeps the config"; else
    fail "dpkg -r removes the binary and keeps the config" "$(ls -la /usr/sbin/tollgate /etc/tollgate 2>&1 | tr '\n' ' ')"
  fi
  dpkg_retry dpkg --purge tollgate >/dev/null
  if [ ! -e /etc/tollgate/tollgate.conf ] && ! dpkg-query -W tollgate >/dev/null 2>&1; then ok "dpkg --purge removes the config"; else
    fail "dpkg --purge removes the config" "$(ls /etc/tollgate 2>&1)"
  fi
  [ "$had_user" = 1 ] || deluser --system tollgate >/dev/null 2>&1 || true
}

# ---- man pages ----

for page in man/tollgate.8 man/tollgate.conf.5; do
  if ! command -v man >/dev/null; then
    fail "man page $page renders" "man is not installed (make deps installs man-db)"
    continue
  fi
  warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
  out=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
  if [ -n "$warn" ]; then
    fail "man page $page renders without a warning" "$warn"
  elif [ "$(wc -l <<<"$out")" -lt 20 ]; then
    fail "man page $page renders" "only $(wc -l <<<"$out") lines"
  else
    ok "man page $page renders without a warning"
  fi
done

# The directives of docs/configuration.md: the first word of each table row
# under "## Directives". Those of tollgate.conf(5): the tag of each .TP.
doc_directives() {
  awk '/^## Directives/{f=1; next} /^## /{f=0} f' docs/configuration.md | grep -oE '^\| `[a-z_]+' | sed 's/^| `//' | sort -u
}
man_directives() {
  grep -A1 '^\.TP' man/tollgate.conf.5 | grep -oE '^\\fB[a-z_]+' | sed 's/^\\fB//' | sort -u
}
doc=$(doc_directives)
manl=$(man_directives)
if [ "$(wc -l <<<"$doc")" -lt 30 ]; then
  fail "directives of docs/configuration.md read" "only $(wc -l <<<"$doc") found"
else
  missing=$(comm -23 <(echo "$doc") <(echo "$manl") | tr '\n' ' ')
  extra=$(comm -13 <(echo "$doc") <(echo "$manl") | tr '\n' ' ')
  if [ -n "$missing" ]; then
    fail "every directive of docs/configuration.md is in tollgate.conf(5)" "missing: $missing"
  else ok "every directive of docs/configuration.md is in tollgate.conf(5) ($(wc -l <<<"$doc"))"; fi
  if [ -n "$extra" ]; then
    fail "every directive of tollgate.conf(5) is in docs/configuration.md" "not in the docs: $extra"
  else ok "every directive of tollgate.conf(5) is in docs/configuration.md"; fi
fi

# Every long option --help prints is in tollgate(8), and the other way round:
# the main command's (the OPTIONS section) and the doctor's (COMMANDS).
long_opts() { grep -oE -- '--[a-z][a-z-]+' | grep -v -- '--help' | sort -u; }
man_section() { awk -v s="$1" '/^\.SH /{f=($2==s); next} f' man/tollgate.8 | sed 's/\\-/-/g'; }
help_main=$("$BUILD/tollgate" --help | sed -n '1,/^Without -c/p' | long_opts)
man_main=$(man_section OPTIONS | long_opts)
help_doctor=$("$BUILD/tollgate" doctor --help | long_opts)
man_doctor=$(man_section COMMANDS | awk '/^\.BI "doctor/{f=1} /^\.BI "passwd/{f=0} f' | long_opts)
if [ -n "$help_main" ] && [ "$help_main" = "$man_main" ] && [ -n "$help_doctor" ] && [ "$help_doctor" = "$man_doctor" ]; then
  ok "tollgate(8) and --help list the same options ($(wc -l <<<"$help_main") main, $(wc -l <<<"$help_doctor") doctor)"
else
  fail "tollgate(8) and --help list the same options" \
    "main: help-only $(comm -23 <(echo "$help_main") <(echo "$man_main") | tr '\n' ' ')man-only $(comm -13 <(echo "$help_main") <(echo "$man_main") | tr '\n' ' ')/ doctor: help-only $(comm -23 <(echo "$help_doctor") <(echo "$man_doctor") | tr '\n' ' ')man-only $(comm -13 <(echo "$help_doctor") <(echo "$man_doctor") | tr '\n' ' ')"
fi

# ---- make install / uninstall ----

dest=$tmp/dest
if ! make --no-print-directory -s BUILD="$BUILD" install DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1; then
  fail "make install DESTDIR PREFIX=/usr" "$(tail -n 5 "$tmp/install.log")"
else
  bad=""
  while read -r mode file; do
    [ -f "$dest$file" ] || {
      bad+=" $file (missing)"
      continue
    }
    m=$(stat -c %a "$dest$file")
    [ "$m" = "$mode" ] || bad+=" $file (mode $m, want $mode)"
  done <<'LIST'
755 /usr/sbin/tollgate
644 /usr/share/man/man8/tollgate.8
644 /usr/share/man/man5/tollgate.conf.5
644 /usr/lib/systemd/system/tollgate.service
644 /usr/lib/sysusers.d/tollgate.conf
644 /etc/logrotate.d/tollgate
644 /etc/tollgate/tollgate.conf
644 /usr/share/doc/tollgate/tollgate.conf.example
LIST
  nfiles=$(find "$dest" -type f | wc -l)
  [ "$nfiles" -eq 8 ] || bad+=" $nfiles files installed, want 8: $(find "$dest" -type f | sed "s|$dest||" | tr '\n' ' ')"
  cmp -s "$BUILD/tollgate" "$dest/usr/sbin/tollgate" || bad+=" the binary differs from $BUILD/tollgate"
  cmp -s packaging/tollgate.service "$dest/usr/lib/systemd/system/tollgate.service" ||
    bad+=" with PREFIX=/usr the unit is not packaging/tollgate.service"
  if [ -z "$bad" ]; then ok "make install DESTDIR PREFIX=/usr: every file, its mode and content"; else
    fail "make install DESTDIR PREFIX=/usr" "$bad"
  fi

  # An existing config is the administrator's: a second install keeps it.
  echo "# changed" >>"$dest/etc/tollgate/tollgate.conf"
  make --no-print-directory -s BUILD="$BUILD" install DESTDIR="$dest" PREFIX=/usr >"$tmp/install2.log" 2>&1
  if tail -n 1 "$dest/etc/tollgate/tollgate.conf" | grep -q '^# changed$' && grep -q 'exists: kept' "$tmp/install2.log"; then
    ok "make install keeps a config that exists"
  else
    fail "make install keeps a config that exists" "$(tail -n 3 "$dest/etc/tollgate/tollgate.conf") / $(cat "$tmp/install2.log")"
  fi

  # The installed man pages are found by man.
  if command -v man >/dev/null && MANPATH="$dest/usr/share/man" man -w 'tollgate.conf(5)' >/dev/null 2>&1 &&
    MANPATH="$dest/usr/share/man" man -w 'tollgate(8)' >/dev/null 2>&1; then
    ok "the installed man pages are found by man"
  else fail "the installed man pages are found by man" "man -w with MANPATH=$dest/usr/share/man"; fi

  make --no-print-directory -s BUILD="$BUILD" uninstall DESTDIR="$dest" PREFIX=/usr >"$tmp/uninstall.log" 2>&1
  left=$(find "$dest" -type f | sed "s|$dest||" | tr '\n' ' ')
  if [ "$left" = "/etc/tollgate/tollgate.conf " ]; then ok "make uninstall removes every file but the config"; else
    fail "make uninstall removes every file but the config" "left: $left"
  fi
fi

# The default PREFIX is /usr/local, and the unit names the binary there.
dest2=$tmp/dest-local
if make --no-print-directory -s BUILD="$BUILD" install DESTDIR="$dest2" >/dev/null 2>&1 &&
  [ -x "$dest2/usr/local/sbin/tollgate" ] &&
  grep -q '^ExecStart=/usr/local/sbin/tollgate -c /etc/tollgate/tollgate.conf$' "$dest2/usr/local/lib/systemd/system/tollgate.service" &&
  grep -q '^ExecStartPre=/usr/local/sbin/tollgate -t -c /etc/tollgate/tollgate.conf$' "$dest2/usr/local/lib/systemd/system/tollgate.service"; then
  ok "make install with the default PREFIX: /usr/local/sbin/tollgate, and the unit runs it"
else
  fail "make install with the default PREFIX" "$(grep Exec "$dest2/usr/local/lib/systemd/system/tollgate.service" 2>&1)"
fi

# ---- the installed files at work ----

# A real prefix (no DESTDIR), so that the unit's paths exist for
# systemd-analyze and the config can be checked by the installed binary.
root=$tmp/root
make --no-print-directory -s BUILD="$BUILD" install PREFIX="$root/usr" SYSCONFDIR="$root/etc" >/dev/null 2>&1
unit=$root/usr/lib/systemd/system/tollgate.service
conf=$root/etc/tollgate/tollgate.conf
sed -i "s|/var/log/tollgate|$tmp|" "$conf"
if out=$("$root/usr/sbin/tollgate" -t -c "$conf" 2>&1) && grep -q 'is valid' <<<"$out"; then
  ok "the installed example config passes tollgate -t"
else fail "the installed example config passes tollgate -t" "$out"; fi

if ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze verify tollgate.service" "systemd-analyze is not installed (make deps installs systemd)"
else
  out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$unit" 2>&1)
  if [ $? -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify tollgate.service: clean"; else
    fail "systemd-analyze verify tollgate.service" "$out"
  fi
  score=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null | sed -n 's/.*Overall exposure level for tollgate.service: \([0-9.]*\).*/\1/p')
  if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s < 2.0) }'; then
    ok "systemd-analyze security rates tollgate.service $score (under 2.0)"
  else fail "systemd-analyze security rates tollgate.service under 2.0" "got '${score}'"; fi
  for key in 'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'User=tollgate' 'AmbientCapabilities=CAP_NET_BIND_SERVICE' \
    'StateDirectory=tollgate' 'LogsDirectory=tollgate' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'MemoryDenyWriteExecute=yes' 'SystemCallFilter=@system-service'; do
    grep -qxF "$key" "$unit" || fail "tollgate.service has $key" "not found"
  done
  stop=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
  if [ -n "$stop" ] && [ "$stop" -gt 300 ]; then ok "TimeoutStopSec ($stop s) is longer than the default drain_timeout (300 s)"; else
    fail "TimeoutStopSec is longer than drain_timeout" "TimeoutStopSec=$stop"
  fi
fi

if command -v logrotate >/dev/null; then
  # logrotate -d reads the file and says what it would do, touching nothing;
  # the su line needs the user, which the package or systemd-sysusers creates.
  lr=$tmp/logrotate.conf
  sed "s|/var/log/tollgate|$tmp/logs|; /^\tsu /d" packaging/tollgate.logrotate >"$lr"
  mkdir -p "$tmp/logs" && echo x >"$tmp/logs/access.log"
  out=$(logrotate -d -s "$tmp/lr.state" "$lr" 2>&1)
  if [ $? -eq 0 ] && ! grep -qi 'error' <<<"$out" && grep -q 'access.log' <<<"$out"; then
    ok "logrotate reads packaging/tollgate.logrotate"
  else fail "logrotate reads packaging/tollgate.logrotate" "$(grep -i error <<<"$out" | head -n 3)"; fi
else
  fail "logrotate reads packaging/tollgate.logrotate" "logrotate is not installed (make deps installs it)"
fi

# ---- the default config path ----

# A tollgate whose default config is in $tmp (SYSCONFDIR), main.o compiled by
# the Makefile's own rule and linked with the build's library.
alt=$tmp/alt
make --no-print-directory -s -B BUILD="$alt" SYSCONFDIR="$tmp/etc" "$alt/src/main.o" >/dev/null 2>&1 &&
  cc -O2 -flto=auto -pthread -o "$alt/tollgate" "$alt/src/main.o" "$BUILD/libtg.a" "$BUILD"/llhttp/*.o \
    -luv -ljansson -lm -lssl -lcrypto -lcrypt -lhiredis -luring -lnghttp2 2>"$tmp/link.log"
if [ ! -x "$alt/tollgate" ]; then
  fail "the default config path" "could not build a tollgate with SYSCONFDIR=$tmp/etc: $(head -n 3 "$tmp/link.log")"
else
  out1=$("$alt/tollgate" -t 2>&1)
  mkdir -p "$tmp/etc/tollgate"
  printf 'upstream u { server 127.0.0.1:1; }\nsite _ { listen 127.0.0.1:1; }\n' >"$tmp/etc/tollgate/tollgate.conf"
  out2=$("$alt/tollgate" -t 2>&1)
  out3=$("$alt/tollgate" -t --listen 127.0.0.1:2 2>&1)
  if grep -q '(from flags)' <<<"$out1" && grep -qF "$tmp/etc/tollgate/tollgate.conf is valid" <<<"$out2" &&
    grep -q '(from flags)' <<<"$out3"; then
    ok "without -c, SYSCONFDIR/tollgate/tollgate.conf is read when it exists and no flag describes a site"
  else
    fail "the default config path" "absent: $out1 / present: $out2 / with --listen: $out3"
  fi
fi

# ---- readiness on $NOTIFY_SOCKET ----

if ! command -v python3 >/dev/null; then
  fail "READY=1 on \$NOTIFY_SOCKET" "python3 is not installed (make deps installs it)"
else
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  sock=$tmp/notify
  # The listener records each datagram with whether the port accepted a
  # connection when it arrived.
  python3 - "$sock" "$port" >"$tmp/notify.log" 2>&1 <<'PY' &
import socket, sys
path, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
open(path + ".ready", "w").close()
try:
    while True:
        msg = s.recv(4096).decode()
        c = socket.socket()
        accepted = c.connect_ex(("127.0.0.1", port)) == 0
        c.close()
        print(repr(msg), "accepting" if accepted else "refused", flush=True)
        if "STOPPING=1" in msg:
            break
except socket.timeout:
    print("timeout", flush=True)
PY
  pids+=($!)
  for _ in $(seq 100); do [ -e "$sock.ready" ] && break; sleep 0.05; done
  NOTIFY_SOCKET=$sock "$BUILD/tollgate" --listen "127.0.0.1:$port" --upstream http://127.0.0.1:1 --workers 1 \
    --access-log off 2>"$tmp/tg.err" &
  tg=$!
  pids+=("$tg")
  for _ in $(seq 200); do grep -q READY "$tmp/notify.log" && break; sleep 0.05; done
  kill -TERM "$tg"
  for _ in $(seq 200); do grep -q STOPPING "$tmp/notify.log" && break; sleep 0.05; done
  wait "$tg" 2>/dev/null
  if grep -q "^'READY=1\\\\nMAINPID=$tg' accepting$" "$tmp/notify.log" && grep -q "^'STOPPING=1'" "$tmp/notify.log"; then
    ok "READY=1 and MAINPID on \$NOTIFY_SOCKET once the port accepts, STOPPING=1 on SIGTERM"
  else
    fail "READY=1 on \$NOTIFY_SOCKET" "datagrams: $(tr '\n' ' ' <"$tmp/notify.log") / tollgate: $(tail -n 3 "$tmp/tg.err")"
  fi
fi

# ---- the Debian package ----

deb=$(make --no-print-directory -s BUILD="$BUILD" deb 2>"$tmp/deb.log" | tail -n 1)
if [ ! -f "$deb" ]; then
  fail "make deb" "$(tail -n 5 "$tmp/deb.log")"
else
  listing=$(dpkg-deb -c "$deb" | awk '{ print $NF }' | sed 's|^\./|/|')
  bad=""
  for f in /usr/sbin/tollgate /usr/share/man/man8/tollgate.8.gz /usr/share/man/man5/tollgate.conf.5.gz \
    /lib/systemd/system/tollgate.service /etc/logrotate.d/tollgate /etc/tollgate/tollgate.conf \
    /usr/share/doc/tollgate/copyright /usr/share/doc/tollgate/changelog.gz; do
    grep -qxF "$f" <<<"$listing" || bad+=" $f"
  done
  conffiles=$(dpkg-deb -I "$deb" conffiles 2>/dev/null | tr '\n' ' ')
  [ "$conffiles" = "/etc/tollgate/tollgate.conf /etc/logrotate.d/tollgate " ] || bad+=" conffiles: '$conffiles'"
  dpkg-deb -f "$deb" Depends | grep -q 'libuv1' || bad+=" Depends: $(dpkg-deb -f "$deb" Depends)"
  if [ -z "$bad" ]; then ok "make deb: $(basename "$deb") holds every file, the conffiles and its dependencies"; else
    fail "make deb" "$bad"
  fi
  if ! command -v lintian >/dev/null; then
    fail "lintian on the .deb" "lintian is not installed (make deps installs it)"
  else
    lint=$(lintian --pedantic -I "$deb" 2>&1 | grep -v 'running with root privileges')
    if grep -q '^E:' <<<"$lint"; then fail "lintian reports no error" "$(grep '^E:' <<<"$lint" | tr '\n' ' ')"; else
      ok "lintian reports no error ($(grep -c '^W:' <<<"$lint") warnings, $(grep -c '^I:' <<<"$lint") infos)"
      [ -z "$lint" ] || sed 's/^/    /' <<<"$lint"
    fi
  fi
  deb_install_checks "$deb"
fi

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
