"""Other libraries' warnings the user can do nothing about stay out of what they see, and only those."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from interank_sdk._compat import BNB_KERNEL_FETCH, quiet_bitsandbytes_kernel_fetch

IMPORT_BNB = "import logging; logging.basicConfig(level=logging.INFO); {first}import bitsandbytes"


@pytest.mark.slow
def test_importing_bitsandbytes_after_the_sdk_hides_its_hub_kernel_warning():
    pytest.importorskip("bitsandbytes")

    def stderr(first: str) -> str:
        return subprocess.run([sys.executable, "-c", IMPORT_BNB.format(first=first)], capture_output=True, check=False,
                              text=True, timeout=300).stderr

    if BNB_KERNEL_FETCH not in stderr(""):
        pytest.skip("this bitsandbytes does not log the hub kernel warning: nothing to hide")
    assert BNB_KERNEL_FETCH not in stderr("import interank_sdk; ")


def test_only_that_record_is_dropped(caplog):
    quiet_bitsandbytes_kernel_fetch()
    quiet_bitsandbytes_kernel_fetch()  # idempotent: one filter
    target = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert sum(type(f).__name__ == "_DropBitsandbytesKernelFetch" for f in target.filters) == 1
    with caplog.at_level(logging.INFO, logger="bitsandbytes"):
        target.warning(BNB_KERNEL_FETCH + ": %s. Please make sure ...", "no network")
        target.warning("something else bitsandbytes says")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["something else bitsandbytes says"]
