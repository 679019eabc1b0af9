#!/usr/bin/python3
"""Run a command as a child-subreaper (prctl PR_SET_CHILD_SUBREAPER).

Every daemon the e2e script starts (they double-fork and setsid) is re-parented
to this process instead of PID 1, so that
  * their zombies are reaped at once (PID 1 in some containers does not reap),
  * after the command exits we know *exactly* which started processes are left:
    they are our direct children. Any such process is reported, sent SIGTERM,
    then SIGKILL after a grace period, and the exit status becomes 70 (unless
    the command already failed).

Usage: reaper.py [--grace SECONDS] -- CMD [ARGS...]
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children(mypid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            # field 4 is ppid; comm (field 2) may contain spaces, so split after ')'
            rest = st[st.rindex(")") + 2:].split()
            if int(rest[1]) == mypid:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
                out.append((int(d), rest[0], cmd))
        except (OSError, ValueError, IndexError):
            pass
    return out


def reap_nohang():
    while True:
        try:
            wpid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if wpid == 0:
            return


def main():
    args = sys.argv[1:]
    grace = 10.0
    if args and args[0] == "--grace":
        grace = float(args[1])
        args = args[2:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print("usage: reaper.py [--grace S] -- CMD ...", file=sys.stderr)
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("reaper: prctl(PR_SET_CHILD_SUBREAPER) failed; continuing without it", file=sys.stderr)
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.execvp(args[0], args)

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(s, forward)

    rc = None
    while rc is None:
        try:
            wpid, status = os.wait()
        except InterruptedError:
            continue
        except ChildProcessError:
            break
        if wpid == pid:
            rc = os.waitstatus_to_exitcode(status)
            if rc < 0:
                rc = 128 - rc
    if rc is None:
        rc = 1

    # Give processes that are still shutting down a moment to exit.
    deadline = time.time() + grace
    left = children(me)
    while left and time.time() < deadline:
        time.sleep(0.2)
        reap_nohang()
        left = [c for c in children(me) if c[1] != "Z"]
    reap_nohang()
    left = [c for c in children(me) if c[1] != "Z"]
    if left:
        print("reaper: processes left behind by the e2e script (a bug in its cleanup):", file=sys.stderr)
        for cpid, state, cmd in left:
            print("reaper:   pid %d [%s] %s" % (cpid, state, cmd), file=sys.stderr)
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            for cpid, _s, _c in children(me):
                try:
                    os.kill(cpid, sig)
                except ProcessLookupError:
                    pass
            end = time.time() + wait
            while time.time() < end and children(me):
                time.sleep(0.1)
                reap_nohang()
            if not children(me):
                break
        if rc == 0:
            rc = 70
    reap_nohang()
    return rc


if __name__ == "__main__":
    sys.exit(main())
