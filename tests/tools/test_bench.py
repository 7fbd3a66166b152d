"""The benchmark's memory measure: a process tree's resident memory, from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tools.bench import tree_rss

# 400 MB touched, then a fork that sleeps without exec'ing: its pages are the parent's.
FORKS = """
import os, sys, time
block = bytearray(400 * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1
if os.fork() == 0:
    time.sleep(30)
    os._exit(0)
print("forked", flush=True)
time.sleep(30)
"""


def _resident(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS"))


def test_a_fork_that_has_not_execd_is_counted_once():
    proc = subprocess.Popen([sys.executable, "-c", FORKS], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "forked"
        time.sleep(0.2)
        own = _resident(proc.pid)
        assert own > 400 * 2**20
        # the child alone shows most of the 400 MB as resident too: summed, the tree would be ~2x
        measured = tree_rss(proc.pid)
        assert own * 0.9 < measured < own * 1.2, (own, measured)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the process and its fork
        proc.wait()
