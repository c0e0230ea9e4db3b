#!/usr/bin/env bash
# Keeper vs Apache ZooKeeper 3.8 on a big machine that has no network, no Java and no package
# manager: only bash, python3 (standard library) and coreutils (how to carry ZooKeeper there: see the header of `pack` below).
#
#   bash bench/bigbox.sh pack [DIR]      here: fills DIR (default bench/out/bigbox, ~55 MB) with
#                                        a jlink'ed JRE (DIR/jre), ZooKeeper 3.8's jars with
#                                        slf4j-simple for logging (DIR/lib), a stripped keeper
#                                        (DIR/keeper; $KEEPER_BIN, default target/release/keeper,
#                                        which is not built here), an older one to compare with
#                                        when $KEEPER_BASE_BIN is set (DIR/keeper-base),
#                                        bench/threads.py and this script, and the libraries
#                                        outside glibc the JRE loads (DIR/syslibs, gzipped:
#                                        libstdc++, libz, libgcc_s; used only where the target
#                                        lacks them);
#                                        DIR/pack.json says what went in.
#   bash DIR/bigbox.sh run [options]     there (works here too): from the folder it lives in,
#                                        one system at a time, a 3-server ensemble on loopback
#                                        (fsync on, tickTime 2000, initLimit 10, syncLimit 5, as
#                                        bench/compare.sh), first ZooKeeper, then Keeper, then
#                                        keeper-base if packed, each load through all three
#                                        servers with `DIR/keeper bench` (the same client for all)
#                                        and the CPU of every server thread inside each load's
#                                        measured window. Prints one table; DIR/results.json has
#                                        every figure, DIR/logs/<system>/ the server logs.
#
# run options:
#   --duration S        measured seconds per load (default 8)
#   --warmup S          warm-up seconds per load, not measured (default 2)
#   --preload S         seconds of unmeasured mixed:50 16x16 load once per system before its first
#                       load, so that the JVM has compiled its hot paths (default 5; 0 = none)
#   --loads LIST        WORKLOAD:CLIENTSxOUTSTANDING,... (default
#                       write:32x16,write:96x16,read:32x16,read:96x16,mixed:90:32x16; mixed:R is
#                       R % reads)
#   --systems LIST      any of zookeeper,keeper,keeper-base (default: all that are packed)
#   --zk-heap-mb N      each ZooKeeper JVM's -Xmx (default 1000, as zkServer.sh and compare.sh)
#   --value-size N      bytes per znode value (default 100)
# BIGBOX_SYSLIBS=1 uses DIR/syslibs even where the system's libraries would do (to test them).
# The servers' data directories are made under $TMPDIR (default /tmp): point it at a real disk
# when /tmp is a tmpfs (the run records the file system type). Wall time is about
# systems x (startup + preload + loads x (warmup + duration + 1 s)): 3.5 min with the defaults.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

JDK=/usr/lib/jvm/java-17-openjdk-amd64
MODULES=java.base,java.management,java.naming,java.logging,java.xml,java.security.jgss,java.security.sasl,jdk.management,jdk.unsupported,jdk.crypto.ec
# ZooKeeper 3.8's server classpath, as in docs/bigbox.md; slf4j-simple in place of log4j.
JARS=(commons-cli commons-io jackson-annotations jackson-core jackson-databind metrics-core
    netty-buffer netty-common netty-handler netty-transport netty-transport-native-epoll
    netty-codec netty-resolver netty-transport-native-unix-common slf4j-api slf4j-simple
    snappy-java zookeeper-jute zookeeper audience-annotations)
# Annotation-only jars: nothing loads them at run time; Debian does not ship this one.
OPTIONAL_JARS=" audience-annotations "
MAX_MB=60

log() { printf 'bigbox: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ----- pack (here) ------------------------------------------------------------------------
as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "root is needed to run: $*"
    fi
}
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
    if [[ "$APT_UPDATED" == 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# find_jar NAME: the path of NAME's jar (Debian's unversioned link first).
find_jar() {
    local n=$1 f
    for f in "/usr/share/java/$n.jar" "/usr/share/zookeeper/lib/$n.jar" "/usr/share/zookeeper/$n.jar"; do
        [[ -f "$f" ]] && { echo "$f"; return 0; }
    done
    # A versioned name only (NAME-1.2.3.jar), never a longer artifact (NAME-foo.jar).
    for f in /usr/share/java/"$n"-[0-9]*.jar /usr/share/zookeeper/lib/"$n"-[0-9]*.jar; do
        [[ -f "$f" ]] && { echo "$f"; return 0; }
    done
    return 1
}

pack() {
    local root dir keeper_bin base_bin
    [[ -f "$HERE/../Cargo.toml" && -f "$HERE/threads.py" ]] ||
        die "pack runs from the repository: bash bench/bigbox.sh pack [DIR]"
    root="$(cd "$HERE/.." && pwd)"
    dir=${1:-$root/bench/out/bigbox}
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    [[ "$dir" != "$root" && "$dir" != "$HERE" ]] || die "DIR must be a folder of its own, not $dir"
    if [[ "$dir/" == "$root/"* ]] && command -v git >/dev/null 2>&1 &&
        ! git -C "$root" check-ignore -q "$dir" 2>/dev/null; then
        log "warning: $dir is inside the repository and not git-ignored"
    fi

    keeper_bin=${KEEPER_BIN:-$root/target/release/keeper}
    [[ -x "$keeper_bin" ]] ||
        die "keeper binary $keeper_bin not found: build it first (cargo build --release --bin keeper; pack does not build it) or set KEEPER_BIN"
    base_bin=${KEEPER_BASE_BIN:-}
    if [[ -n "$base_bin" ]]; then
        [[ -x "$base_bin" ]] || die "KEEPER_BASE_BIN=$base_bin is not an executable"
    fi
    command -v strip >/dev/null 2>&1 || apt_install binutils

    [[ -x "$JDK/bin/jlink" && -d "$JDK/jmods" ]] || apt_install openjdk-17-jdk-headless
    [[ -f /usr/share/java/zookeeper.jar ]] || apt_install zookeeper
    find_jar slf4j-simple >/dev/null || apt_install libslf4j-java
    [[ -x "$JDK/bin/jlink" ]] || die "$JDK/bin/jlink still missing after installing openjdk-17-jdk-headless"

    # The JRE: a fresh jlink each time (a few seconds; jlink refuses an existing folder).
    log "jlink: $MODULES"
    rm -rf "$dir/jre"
    "$JDK/bin/jlink" --add-modules "$MODULES" \
        --compress=2 --strip-debug --no-header-files --no-man-pages --output "$dir/jre"
    "$dir/jre/bin/java" -version 2>&1 | sed 's/^/    /' >&2

    # The jars, under their unversioned names.
    rm -rf "$dir/lib"
    mkdir -p "$dir/lib"
    local n f missing=()
    for n in "${JARS[@]}"; do
        if f=$(find_jar "$n"); then
            cp -L "$f" "$dir/lib/$n.jar"
        elif [[ "$OPTIONAL_JARS" == *" $n "* ]]; then
            log "note: no $n jar here; it holds annotations only, ZooKeeper runs without it"
        else
            missing+=("$n")
        fi
    done
    ((${#missing[@]} == 0)) || die "jars not found in /usr/share/java or /usr/share/zookeeper: ${missing[*]}"
    # Debian's jars name their dependencies by absolute path (Class-Path: /usr/share/java/...):
    # here those would be found and hide a jar missing from lib/; there they would not exist.
    # Drop that attribute so that lib/ alone is the classpath, here as there.
    python3 - "$dir/lib" <<'PY'
import os, re, shutil, sys, zipfile
lib = sys.argv[1]
for name in sorted(os.listdir(lib)):
    path = os.path.join(lib, name)
    with zipfile.ZipFile(path) as z:
        try:
            mf = z.read("META-INF/MANIFEST.MF").decode("utf-8")
        except KeyError:
            continue
        if not re.search(r"^Class-Path:", mf, re.M):
            continue
        # A manifest attribute continues on lines that start with one space.
        new = re.sub(r"^Class-Path:.*\r?\n(?: .*\r?\n)*", "", mf, flags=re.M)
        tmp = path + ".tmp"
        with zipfile.ZipFile(tmp, "w") as out:
            for item in z.infolist():
                data = new.encode("utf-8") if item.filename == "META-INF/MANIFEST.MF" else z.read(item)
                out.writestr(item, data)
    shutil.move(tmp, path)
    print(f"bigbox: {name}: dropped its Class-Path (absolute /usr/share/java paths)", file=sys.stderr)
PY

    log "strip -o $dir/keeper $keeper_bin"
    strip -o "$dir/keeper" "$keeper_bin"
    rm -f "$dir/keeper-base"
    if [[ -n "$base_bin" ]]; then
        log "strip -o $dir/keeper-base $base_bin"
        strip -o "$dir/keeper-base" "$base_bin"
    fi
    "$dir/keeper" bench --help 2>&1 | grep -q -- --workload || die "$keeper_bin has no 'bench' subcommand"

    # The few libraries outside glibc that the JRE and keeper load, for a target that lacks
    # them (most have them: run uses these only when java or keeper do not start without).
    rm -rf "$dir/syslibs"
    mkdir -p "$dir/syslibs"
    local lib path
    for lib in libstdc++.so.6 libz.so.1 libgcc_s.so.1; do
        path=$(ldd "$dir/jre/lib/server/libjvm.so" "$dir/jre/lib/libzip.so" "$dir/keeper" 2>/dev/null |
            awk -v l="$lib" '$1 == l && $3 ~ /^\// { print $3; exit }')
        if [[ -n "$path" ]]; then
            gzip -9 -n -c "$path" >"$dir/syslibs/$lib.gz"
        else
            log "warning: $lib not found with ldd; not bundled in syslibs/"
        fi
    done

    cp "$HERE/threads.py" "$dir/threads.py"
    if [[ "$SELF" != "$dir/bigbox.sh" ]]; then cp "$SELF" "$dir/bigbox.sh"; fi
    chmod +x "$dir/bigbox.sh"
    rm -f "$dir/results.json"
    rm -rf "$dir/logs"

    # What went in, for the record (results.json repeats it).
    local zk_version git_rev
    zk_version=$(dpkg-query -W -f='${Version}' zookeeper 2>/dev/null || echo "3.8")
    git_rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
    python3 - "$dir" "$zk_version" "$git_rev" "$keeper_bin" "$base_bin" <<'PY'
import json, os, subprocess, sys, time
d, zk, rev, keeper, base = sys.argv[1:]
def out(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
def needs(path):
    # Shared libraries a binary asks for by name (readelf, since ldd runs the loader).
    txt = out(["readelf", "-d", path])
    return sorted({l.split("[", 1)[1].split("]", 1)[0] for l in txt.splitlines() if "(NEEDED)" in l})
jre_libs = {}
for sub, _, files in os.walk(os.path.join(d, "jre")):
    for f in files:
        if f.endswith(".so") or f == "java":
            for n in needs(os.path.join(sub, f)):
                if not os.path.exists(os.path.join(d, "jre", "lib", n)) and not os.path.exists(os.path.join(d, "jre", "lib", "server", n)):
                    jre_libs.setdefault(n, []).append(os.path.relpath(os.path.join(sub, f), d))
glibc = sorted({l.split("GLIBC_")[1].split()[0].rstrip(")") for l in out(["readelf", "-V", os.path.join(d, "keeper")]).splitlines() if "GLIBC_" in l},
               key=lambda v: [int(x) for x in v.split(".") if x.isdigit()])
info = {
    "packed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "git": rev,
    "keeper": {"from": keeper, "version": out([os.path.join(d, "keeper"), "--version"]), "glibc_max": glibc[-1] if glibc else None,
               "needs": needs(os.path.join(d, "keeper"))},
    "keeper_base": {"from": base, "version": out([os.path.join(d, "keeper-base"), "--version"])} if base else None,
    "zookeeper": zk,
    "java": out([os.path.join(d, "jre", "bin", "java"), "-version"]).splitlines()[0],
    "jre_system_libs": {k: sorted(v)[:3] for k, v in sorted(jre_libs.items())},
    "jars": sorted(os.listdir(os.path.join(d, "lib"))),
}
json.dump(info, open(os.path.join(d, "pack.json"), "w"), indent=1)
glibc_libs = ("ld-linux", "libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so")
other = sorted({n for n in list(jre_libs) + info["keeper"]["needs"] if not n.startswith(glibc_libs)})
print(f"bigbox: the target needs glibc >= 2.34 (keeper asks for GLIBC_{info['keeper']['glibc_max']}); "
      f"besides glibc, the JRE and keeper load {', '.join(other)} (copies in syslibs/, used only where missing)",
      file=sys.stderr)
PY

    local mb
    mb=$(du -sm "$dir" | cut -f1)
    du -sh "$dir"/* | sed 's/^/    /' >&2
    echo "bigbox: $(du -sh "$dir" | cut -f1) in $dir"
    ((mb <= MAX_MB)) || die "$dir is $mb MB, over the $MAX_MB MB limit"
    echo "bigbox: copy the folder over, then: bash $(basename "$dir")/bigbox.sh run"
}

# ----- run (there) ------------------------------------------------------------------------
PY_PID=""
PIDFILE=""
run_cleanup() {
    local pid
    if [[ -n "$PY_PID" ]]; then
        kill -TERM "$PY_PID" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$PY_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$PY_PID" 2>/dev/null || true
        wait "$PY_PID" 2>/dev/null || true
    fi
    # Servers and benches the runner started and did not see end (it records each pid when it
    # starts it and drops it once it has ended): only those, and only while their command line
    # is still ours.
    if [[ -n "$PIDFILE" && -s "$PIDFILE" ]]; then
        local dirs=()
        while read -r pid path; do
            if [[ "$pid" == dir && "$path" == */bigbox-zk-* || "$pid" == dir && "$path" == */keeper-threads-* ]]; then
                dirs+=("$path")
                continue
            fi
            [[ "$pid" =~ ^[0-9]+$ ]] || continue
            if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$HERE/"; then
                log "cleanup: killing leftover process $pid"
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done <"$PIDFILE"
        ((${#dirs[@]} == 0)) || { sleep 0.2; rm -rf "${dirs[@]}"; }
    fi
    [[ -n "$PIDFILE" ]] && rm -f "$PIDFILE"
}

run() {
    local f
    for f in jre/bin/java lib/zookeeper.jar keeper threads.py; do
        [[ -e "$HERE/$f" ]] || die "$HERE/$f is missing: run the packed copy (bash DIR/bigbox.sh run) after 'bash bench/bigbox.sh pack DIR'"
    done
    command -v python3 >/dev/null 2>&1 || die "python3 is needed"
    # Shared libraries: the system's if java and keeper start with them, else the packed ones.
    if [[ -n "${BIGBOX_SYSLIBS:-}" ]] || ! "$HERE/jre/bin/java" -version >/dev/null 2>&1 ||
        ! "$HERE/keeper" --version >/dev/null 2>&1; then
        python3 - "$HERE/syslibs" <<'PY'
import gzip, os, shutil, sys
d = sys.argv[1]
for f in os.listdir(d):
    if f.endswith(".gz"):
        with gzip.open(os.path.join(d, f)) as src, open(os.path.join(d, f[:-3]), "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
        export LD_LIBRARY_PATH="$HERE/syslibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        log "using the packed libraries in $HERE/syslibs (java or keeper does not start without, or BIGBOX_SYSLIBS is set)"
        "$HERE/jre/bin/java" -version >/dev/null || die "$HERE/jre/bin/java does not start (see above)"
        "$HERE/keeper" --version >/dev/null || die "$HERE/keeper does not start (see above)"
    fi
    PIDFILE="$HERE/.run.pids"
    : >"$PIDFILE"
    trap run_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    python3 - "$HERE" "$PIDFILE" "$@" <<'PY' &
import argparse, fcntl, json, math, os, platform, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time

DIR, PIDFILE = sys.argv[1], sys.argv[2]
sys.path.insert(0, DIR)
import threads  # noqa: E402  (bench/threads.py, packed next to this script)

TICK_TIME, INIT_LIMIT, SYNC_LIMIT = 2000, 10, 5
READY_LIMIT = 90  # seconds for an ensemble to have one leader and two followers
DEFAULT_LOADS = "write:32x16,write:96x16,read:32x16,read:96x16,mixed:90:32x16"
# The JVM's own threads (JIT compilers, GC, VM housekeeping; names cut to 15 characters): the
# table's busiest thread is the busiest other one, the one that serves requests (results.json
# has the busiest of all too, and every thread by name).
JVM_THREADS = ("C1 CompilerThre", "C2 CompilerThre", "GC Thread#", "G1 ", "VM Thread", "VM Periodic",
               "Sweeper thread", "Service Thread", "Monitor Deflati", "Common-Cleaner", "Signal Dispatch",
               "Finalizer", "Reference Handl", "Notification Th")


def log(msg):
    print(f"bigbox: {msg}", file=sys.stderr, flush=True)


def on_signal(signum, _frame):
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # one is enough: let cleanup run
        signal.signal(sig, signal.SIG_IGN)
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGHUP, on_signal)
signal.signal(signal.SIGINT, on_signal)

# ----- process bookkeeping: the pid file lets the shell's trap kill what is left ----------
LIVE = set()
DIRS = set()  # the servers' temporary folders, removed by the shell's trap if this process dies
PIDS_LOCK = threading.Lock()


def track(pid):
    LIVE.add(pid)
    write_pids()


def untrack(pid):
    LIVE.discard(pid)
    write_pids()


def track_dir(path, on=True):
    (DIRS.add if on else DIRS.discard)(path)
    write_pids()


def write_pids():
    with PIDS_LOCK:
        with open(PIDFILE + ".tmp", "w") as f:
            f.write("".join(f"{p}\n" for p in sorted(LIVE)) + "".join(f"dir {d}\n" for d in sorted(DIRS)))
        os.replace(PIDFILE + ".tmp", PIDFILE)


def watch_children():
    """Every half second, adds any child not yet in the pid file (threads.Ensemble starts its
    servers before it hands them over)."""
    while True:
        time.sleep(0.5)
        new = set(children()) - LIVE
        if new:
            LIVE.update(new)
            write_pids()


def children():
    """Pids of this process's children (servers started inside threads.Ensemble before it
    returned them to us included)."""
    me, out = os.getpid(), []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read()
            if int(st[st.rindex(")") + 2:].split()[1]) == me:
                out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def kill_children():
    for pid in children():
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
        untrack(pid)


def stop_procs(procs, grace):
    """SIGTERM, up to GRACE seconds, then SIGKILL."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        untrack(p.pid)


# ----- the systems --------------------------------------------------------------------------
def fs_type(path):
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


class ZooKeeper:
    """Three QuorumPeerMain JVMs on loopback, set up as bench/compare.sh does."""

    name = "zookeeper"

    def __init__(self, heap_mb, max_cnxns):
        self.heap_mb, self.max_cnxns = heap_mb, max_cnxns
        self.dir = tempfile.mkdtemp(prefix="bigbox-zk-")
        track_dir(self.dir)
        self.procs, self.modes = [], None

    def start(self):
        heap_mb, max_cnxns = self.heap_mb, self.max_cnxns
        ports = threads.free_ports(9)
        self.client = ports[0:3]
        java = os.path.join(DIR, "jre", "bin", "java")
        cp = os.path.join(DIR, "lib", "*")
        for i in range(1, 4):
            d = os.path.join(self.dir, str(i))
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i}\n")
            cfg = [f"tickTime={TICK_TIME}", f"initLimit={INIT_LIMIT}", f"syncLimit={SYNC_LIMIT}",
                   f"dataDir={d}/data", f"clientPort={ports[i - 1]}", "clientPortAddress=127.0.0.1",
                   f"maxClientCnxns={max_cnxns}", "forceSync=yes", "admin.enableServer=false",
                   "4lw.commands.whitelist=*"]
            cfg += [f"server.{j}=127.0.0.1:{ports[2 + j]}:{ports[5 + j]}" for j in range(1, 4)]
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write("\n".join(cfg) + "\n")
            cmd = [java, f"-Xmx{heap_mb}m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                   "-Dzookeeper.admin.enableServer=false", "-cp", cp,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(d, "zoo.cfg")]
            with open(os.path.join(self.dir, f"server-{i}.log"), "wb") as logf:
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
            track(p.pid)
            self.procs.append(p)
        self.modes = threads.wait_ready(self.client, READY_LIMIT)
        if self.modes is None:
            raise RuntimeError(f"no leader with two followers within {READY_LIMIT} s")

    def hosts(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.client)

    def stop(self):
        stop_procs(self.procs, 10)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        track_dir(self.dir, False)


class Keeper:
    """Three `keeper server` processes: threads.Ensemble (fsync on, the default tick, limits)."""

    def __init__(self, name, binary, max_cnxns):
        self.name, self.binary, self.max_cnxns = name, binary, max_cnxns
        self.ens, self.dir, self.procs, self.modes = None, None, [], None

    def start(self):
        try:
            self.ens = threads.Ensemble(self.binary, [f"server.max_client_cnxns={self.max_cnxns}"])
        except SystemExit as e:  # Ensemble kills its servers and exits when they form no quorum
            msg = str(e.code)
            if "logs in " in msg:
                self.dir = msg.rsplit("logs in ", 1)[1].rstrip(")")
            raise RuntimeError(msg) from None
        track_dir(self.ens.dir)
        for p in self.ens.procs:
            track(p.pid)
        self.dir, self.procs, self.modes, self.client = self.ens.dir, self.ens.procs, self.ens.modes, self.ens.client

    def hosts(self):
        return self.ens.hosts()

    def stop(self):
        stop_procs(self.procs, 10)

    def cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            track_dir(self.dir, False)


def save_logs(system, tmpdir):
    """The servers' logs (their last MB each) to DIR/logs/SYSTEM/."""
    dst = os.path.join(DIR, "logs", system)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst, exist_ok=True)
    tails = {}
    for i in range(1, 4):
        src = os.path.join(tmpdir or "/nonexistent", f"server-{i}.log")
        try:
            with open(src, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - (1 << 20)))
                data = f.read()
        except OSError:
            continue
        with open(os.path.join(dst, f"server-{i}.log"), "wb") as f:
            f.write(data)
        tails[i] = data.decode(errors="replace").splitlines()[-15:]
    return tails


def version(binary):
    try:
        return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


# ----- one system ---------------------------------------------------------------------------
def run_system(system, args, loads, max_cnxns, results):
    """Runs SYSTEM's loads; its entry in RESULTS fills as they go (an interrupted run keeps the
    loads it finished)."""
    bench = os.path.join(DIR, "keeper")
    out = {"system": system, "loads": [], "notes": []}
    results.append(out)
    if system == "zookeeper":
        out["version"] = PACK.get("zookeeper", "3.8")
    else:
        out["version"] = version(os.path.join(DIR, "keeper" if system == "keeper" else "keeper-base"))
    if system == "zookeeper":
        ens = ZooKeeper(args.zk_heap_mb, max_cnxns)
    else:
        ens = Keeper(system, os.path.join(DIR, "keeper" if system == "keeper" else "keeper-base"), max_cnxns)
    log(f"{system}: starting 3 servers")
    t0 = time.time()
    try:
        try:
            ens.start()
        except RuntimeError as e:
            out["error"] = f"did not start: {e}"
            log(f"{system}: error: {out['error']}")
            ens.stop()
            for i, lines in save_logs(system, ens.dir).items():
                log(f"  server {i} log, last lines:\n    " + "\n    ".join(lines))
            return out
        out["startup_s"] = round(time.time() - t0, 2)
        out["modes"] = ens.modes
        out["pids"] = [p.pid for p in ens.procs]
        out["data_fs"] = fs_type(ens.dir)
        log(f"{system}: ready in {out['startup_s']} s, modes {ens.modes}, data on {out['data_fs']} ({ens.dir})")
        common = ["--value-size", str(args.value_size)]
        if args.preload > 0:
            cmd = [bench, "bench", "--connect", ens.hosts(), "--workload", "mixed:50", "--clients", "16",
                   "--outstanding", "16", "--duration", str(args.preload), "--warmup", "0", "--json", "--quiet", *common]
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            track(p.pid)
            try:
                o, e = p.communicate(timeout=args.preload + 60)
                ok = p.returncode == 0
                log(f"{system}: preload (not measured): " +
                    (f"{json.loads(o)['ops_per_sec']:.0f} ops/s" if ok else f"failed: {e.strip()[-300:]}"))
            except (subprocess.TimeoutExpired, ValueError, KeyError):
                p.kill()
                p.communicate()
                log(f"{system}: preload failed")
            untrack(p.pid)
        for workload, c, o in loads:
            started = []
            res = threads.measure_load(bench, ens.hosts(), [p.pid for p in ens.procs], ens.modes, workload, c, o,
                                       args.duration, args.warmup, extra=common,
                                       on_start=lambda p: (started.append(p.pid), track(p.pid)),
                                       skip=JVM_THREADS if system == "zookeeper" else ())
            for pid in started:
                untrack(pid)
            out["loads"].append(res)
            if "error" in res:
                log(f"{system} {res['load']}: error: {res['error']}")
            else:
                b = res["busiest"] or {}
                log(f"{system} {res['load']}: {res['ops_per_sec']:.0f} ops/s, p99 {res['p99_us'] / 1000:.2f} ms, "
                    f"errors {res['errors']}; busiest thread {b.get('thread')} (server {b.get('server')}, "
                    f"{b.get('mode')}) {b.get('core_pct')} % of a core, {b.get('us_per_op')} us/op")
            dead = [i + 1 for i, p in enumerate(ens.procs) if p.poll() is not None]
            if dead:
                out["notes"].append(f"server(s) {dead} exited during {res['load']}; later loads skipped")
                log(f"{system}: error: {out['notes'][-1]}")
                break
        if system != "zookeeper":
            with open(os.path.join(ens.dir, "server-1.log"), errors="replace") as f:
                if "in-memory persistence" in f.read():
                    out["notes"].append("this build keeps data in memory only (in-memory persistence): no fsync")
    finally:
        ens.stop()
        if "error" not in out:
            save_logs(system, ens.dir)
        ens.cleanup()
        kill_children()
    log(f"{system}: stopped")
    return out


# ----- the table ----------------------------------------------------------------------------
def table(results, loads):
    by = {r["system"]: r for r in results}
    systems = [r["system"] for r in results]
    zk = by.get("zookeeper")

    def load_of(system, name):
        r = by.get(system)
        return next((x for x in (r or {}).get("loads", []) if x["load"] == name), None)

    def ratio(a, b, key):
        if not a or not b or "error" in a or "error" in b or not b.get(key) or a.get(key) is None:
            return "-"
        return f"{a[key] / b[key]:.2f}"

    lines = []
    head = (f"{'load':<16} {'system':<11} {'ops/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'ops/ZK':>6} {'p99/ZK':>6}  "
            f"{'busiest thread (server, role)':<34} {'us/op':>6} {'%core':>6}  cores per server")
    lines += [head, "-" * len(head)]
    for workload, c, o in loads:
        name = f"{workload}:{c}x{o}"
        for k, system in enumerate(systems):
            r = load_of(system, name)
            label = name if k == 0 else ""
            if r is None or "error" in r:
                why = (by[system].get("error") if r is None else r["error"]) or "not run"
                lines.append(f"{label:<16} {system:<11} {'error: ' + why.splitlines()[0][:90]}")
                continue
            z = load_of("zookeeper", name)
            b = r.get("busiest") or {}
            where = f"{b.get('thread')} ({b.get('server')}, {b.get('mode')})" if b else "-"
            cores = " ".join(f"{s['mode'][0].upper()}{s['cores']:.2f}" for s in r["servers"])
            p50 = r["p50_us"] / 1000 if r.get("p50_us") is not None else float("nan")
            p99 = r["p99_us"] / 1000 if r.get("p99_us") is not None else float("nan")
            err = f"  errors {r['errors']}" if r.get("errors") else ""
            lines.append(f"{label:<16} {system:<11} {r['ops_per_sec']:>9.0f} {p50:>7.2f} {p99:>7.2f} "
                         f"{ratio(r, z, 'ops_per_sec') if zk else '-':>6} {ratio(r, z, 'p99_us') if zk else '-':>6}  "
                         f"{where[:34]:<34} {b.get('us_per_op') or 0:>6.1f} {b.get('core_pct') or 0:>6.1f}  {cores}{err}")
    if "keeper" in by and "keeper-base" in by:
        lines.append("")
        parts = []
        for workload, c, o in loads:
            name = f"{workload}:{c}x{o}"
            parts.append(f"{name} {ratio(load_of('keeper', name), load_of('keeper-base', name), 'ops_per_sec')}")
        lines.append("keeper / keeper-base ops/s: " + ", ".join(parts))
    lines.append("")
    lines.append("ops/ZK, p99/ZK: the system's figure over ZooKeeper's. Busiest thread: the one thread of any "
                 "server with the most CPU in the measured window (a thread at 100 % caps the ensemble); "
                 "us/op: its CPU microseconds per op; ZooKeeper's JVM threads (JIT, GC) are left out of it. "
                 "Cores per server: L(eader)/F(ollower) CPU cores used in all.")
    for r in results:
        for note in r.get("notes", []):
            lines.append(f"note: {r['system']}: {note}")
    return "\n".join(lines)


# ----- main ---------------------------------------------------------------------------------
ap = argparse.ArgumentParser(prog="bigbox.sh run", description="Keeper vs ZooKeeper 3.8, 3-server ensembles on loopback")
ap.add_argument("--duration", type=float, default=8)
ap.add_argument("--warmup", type=float, default=2)
ap.add_argument("--preload", type=float, default=5)
ap.add_argument("--loads", default=DEFAULT_LOADS)
ap.add_argument("--systems", default=None)
ap.add_argument("--zk-heap-mb", type=int, default=1000)
ap.add_argument("--value-size", type=int, default=100)
args = ap.parse_args(sys.argv[3:])
if args.duration <= 0 or args.warmup < 0 or args.preload < 0:
    ap.error("--duration must be > 0, --warmup and --preload >= 0")
loads = []
for spec in args.loads.split(","):
    try:
        workload, shape = spec.strip().rsplit(":", 1)
        c, o = shape.split("x")
        if not re.fullmatch(r"write|read|create-delete|watch|mixed:(100|[0-9]{1,2})", workload):
            raise ValueError(workload)
        loads.append((workload, int(c), int(o)))
    except ValueError:
        ap.error(f"bad load '{spec}': WORKLOAD:CLIENTSxOUTSTANDING, e.g. write:32x16 or mixed:90:32x16")
if len({f"{w}:{c}x{o}" for w, c, o in loads}) != len(loads):
    ap.error("a load is listed twice")
packed = ["zookeeper", "keeper"] + (["keeper-base"] if os.path.exists(os.path.join(DIR, "keeper-base")) else [])
systems = packed if args.systems is None else [s.strip() for s in args.systems.split(",") if s.strip()]
for s in systems:
    if s not in packed:
        ap.error(f"unknown or unpacked system '{s}' (packed: {', '.join(packed)})")
# maxClientCnxns counts connections per client address per server; all clients are 127.0.0.1
# and spread round-robin over 3 servers (+ the bench's setup session): 60 unless more is needed.
max_cnxns = max(60, math.ceil(max(c for _, c, _ in loads) / 3) + 4)
try:
    PACK = json.load(open(os.path.join(DIR, "pack.json")))
except (OSError, ValueError):
    PACK = {}

threading.Thread(target=watch_children, daemon=True).start()
lock = open(os.path.join(DIR, ".run.lock"), "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit("bigbox: error: another run holds " + os.path.join(DIR, ".run.lock"))

estimate = len(systems) * (10 + args.preload + len(loads) * (args.warmup + args.duration + 1.5))
try:
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
except OSError:
    cpu_model = "?"
host = {"cores": os.cpu_count(), "cpu": cpu_model, "kernel": platform.release(),
        "loadavg_before": open("/proc/loadavg").read().split()[:3], "tmpdir": tempfile.gettempdir(),
        "tmpdir_fs": fs_type(os.path.realpath(tempfile.gettempdir())), "python": platform.python_version()}
log(f"{os.cpu_count()} cores ({cpu_model}), load average {' '.join(host['loadavg_before'])}; "
    f"systems {', '.join(systems)}; {len(loads)} loads of {args.warmup:g}+{args.duration:g} s; about {estimate / 60:.1f} min")
params = {"duration": args.duration, "warmup": args.warmup, "preload": args.preload, "loads": [f"{w}:{c}x{o}" for w, c, o in loads],
          "systems": systems, "zk_heap_mb": args.zk_heap_mb, "value_size": args.value_size, "tick_time": TICK_TIME,
          "init_limit": INIT_LIMIT, "sync_limit": SYNC_LIMIT, "max_client_cnxns": max_cnxns, "force_sync": True,
          "servers": 3, "bench_client": "DIR/keeper bench (for every system)"}
results = []
started = time.time()
status = 0
try:
    for s in systems:
        run_system(s, args, loads, max_cnxns, results)
except SystemExit as e:
    log(f"interrupted ({e.code}); stopping")
    status = e.code if isinstance(e.code, int) else 1
finally:
    kill_children()
text = table(results, loads)
print()
print(text)
host["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
with open(os.path.join(DIR, "results.json"), "w") as f:
    json.dump({"host": host, "pack": PACK, "params": params, "wall_s": round(time.time() - started, 1),
               "complete": status == 0, "systems": results, "table": text}, f, indent=1)
log(f"wrote {os.path.join(DIR, 'results.json')} (and server logs under {os.path.join(DIR, 'logs')}); "
    f"{time.time() - started:.0f} s in all")
failed = any("error" in r or any("error" in x for x in r["loads"]) for r in results)
sys.exit(status or (3 if failed else 0))
PY
    PY_PID=$!
    local rc=0
    wait "$PY_PID" || rc=$?
    PY_PID=""
    return "$rc"
}

case "${1:-}" in
pack)
    shift
    (($# <= 1)) || usage
    pack "$@"
    ;;
run)
    shift
    run "$@"
    ;;
-h | --help | help) usage ;;
*) usage ;;
esac
