"""The kernels' C headers compiled without optimisation.

Their vector helpers take and return 32-byte vectors; a copy compiled on its
own gets the baseline target (SSE2: such vectors passed in memory), and a
call to it from an AVX clone passes them in registers.  They are therefore
always inlined (FR_AI in _rowops.h); gcc -O0, which inlines nothing else,
showed what happens otherwise: the packed product returned zeros and the
vector tanh crashed.  This builds a small C program on the headers at -O0
and at -O2 and compares what each computes (not bit for bit: -O0 does not
fuse multiply-adds).
"""
import os
import shutil
import subprocess

import numpy as np
import pytest

HEADERS = os.path.join(os.path.dirname(__file__), os.pardir, "src", "fastrnn")
CC = shutil.which("gcc")

PROGRAM = r"""
#include <stdio.h>
#include "_packgemm.h"
#define H 50
#define O 27
#define S 25
static float Waa[H * H], Wya[O * H], WaxT[O * H], ba[H], by[O], a0[H];
static float WaaTp[64 * H + 64], WyaTp[32 * H + 64], A[S * H + 64], z[S * O], th[64];
static ptrdiff_t ids[S];
int main(void)
{
    unsigned s = 12345;
    #define RND() ((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f
    for (int i = 0; i < H * H; i++) Waa[i] = 0.3f * RND();
    for (int i = 0; i < O * H; i++) { Wya[i] = RND(); WaxT[i] = RND(); }
    for (int i = 0; i < H; i++) { ba[i] = 0.1f * RND(); a0[i] = RND(); }
    for (int i = 0; i < O; i++) by[i] = RND();
    for (int t = 0; t < S; t++) ids[t] = (t * 7) % O;
    for (int i = 0; i < 64; i++) th[i] = 8.0f * RND();
    fr_pack_f(H, H, Waa, 1, H, WaaTp);
    fr_rec1_f(S, H, WaaTp, WaxT, ids, ba, a0, A);
    fr_pack_f(H, O, Wya, 1, H, WyaTp);
    fr_gemmp_f(S, O, H, A, H, 1, WyaTp, 0, z, O, 1);
    fr_softmax_rows_f(z, by, S, O);
    fr_tanh_vec_f(th, 64);
    for (int i = 0; i < S * H; i++) printf("%.9g\n", A[i]);
    for (int i = 0; i < S * O; i++) printf("%.9g\n", z[i]);
    for (int i = 0; i < 64; i++) printf("%.9g\n", th[i]);
    return 0;
}
"""


@pytest.mark.skipif(CC is None or not os.path.exists(os.path.join(HEADERS, "_packgemm.h")),
                    reason="needs gcc and the source tree's headers")
def test_headers_compute_the_same_without_optimisation(tmp_path):
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    out = {}
    for opt in ("-O0", "-O2"):
        exe = tmp_path / f"prog{opt}"
        subprocess.run([CC, opt, "-I", HEADERS, str(src), "-o", str(exe), "-lm"],
                       check=True, capture_output=True)
        run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (opt, run.returncode, run.stderr)
        out[opt] = np.array(run.stdout.split(), dtype=np.float64)
    assert out["-O2"].size == 25 * 50 + 25 * 27 + 64
    assert np.all(np.isfinite(out["-O2"])) and np.abs(out["-O2"]).max() > 0.1
    np.testing.assert_allclose(out["-O0"], out["-O2"], rtol=1e-5, atol=1e-6)
