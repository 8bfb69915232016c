"""Arguments of the contract functions that NumPy would have rejected with
its own words: seeds, a huge sample length, and a limit that only dense
inputs have."""
import numpy as np
import pytest

import fastrnn
from fastrnn import reference


@pytest.mark.parametrize("call", [
    lambda seed: fastrnn.sample(fastrnn.init_params(5, 4, seed=0), 5, seed=seed),
    lambda seed: reference.sample(fastrnn.init_params(5, 4, seed=0), 5, seed=seed),
    lambda seed: fastrnn.init_params(5, 4, seed=seed),
], ids=["sample", "reference.sample", "init_params"])
@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (1.5, TypeError), ("a", TypeError)])
def test_bad_seed_is_named(call, seed, exc):
    with pytest.raises(exc, match=rf"seed .*{seed!r}|seed must"):
        call(seed)


def test_huge_sample_length_is_a_clear_error_before_allocating():
    # NumPy would say "Unable to allocate 8.00 TiB"; still a MemoryError too
    p = fastrnn.init_params(5, 4, seed=0)
    with pytest.raises(ValueError, match="length"):
        fastrnn.sample(p, 2**40)
    with pytest.raises(MemoryError):
        fastrnn.sample(p, 2**40)


def test_token_ids_are_not_limited_by_T_times_I():
    # T*I is a limit only for dense inputs; with ids, I = 65536 and T = 32769
    # (T*I = 2**31 + 2**16) must work: nothing overflows
    p = fastrnn.init_params(2**16, 2, 2, seed=0)
    X = np.zeros((1, 2**15 + 1), dtype=np.intp)
    loss, _, _ = fastrnn.loss_and_grads(p, X, np.zeros(1, dtype=np.intp))
    assert np.isfinite(loss)
