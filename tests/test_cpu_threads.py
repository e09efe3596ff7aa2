"""The opt-in CPU thread policy (``threads="auto"``): real load from a real second process, no timing asserted."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.slow  # a subprocess
def test_auto_threads_leave_the_cores_other_processes_keep_busy():
    """threads="auto" reads /proc/stat between calls: a process spinning on a core takes that core away."""
    import os
    import subprocess
    import time

    from interank_sdk.backends.cpu_threads import ThreadPolicy
    from interank_sdk.errors import InvalidInputError

    if not os.path.exists("/proc/stat") or (os.cpu_count() or 1) < 2:
        pytest.skip("needs Linux's /proc/stat and at least two cores")
    assert ThreadPolicy(None).choose() is None  # the library default leaves torch alone
    assert ThreadPolicy(3).choose() == 3
    with pytest.raises(InvalidInputError):
        ThreadPolicy(0)
    policy = ThreadPolicy("auto")
    assert policy.choose() == policy.cores  # no sample yet: every core
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        policy.others_busy()  # a fresh sample while the other process runs
        time.sleep(1.0)
        assert policy.choose() <= policy.cores - 1
    finally:
        spinner.kill()
        spinner.wait()
