"""One ``OnnxEncoder`` shared by many threads gives every caller the codes one thread gets
(ORT's ``run`` is thread-safe and the encoder keeps no per-call state)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from infovaegan_plugin.deploy.runtime import OnnxEncoder


def test_threads_sharing_one_encoder_get_the_single_thread_codes(digits_export):
    encoder = OnnxEncoder(digits_export[0], providers="cpu", intra_op_num_threads=1,
                          batch_size=16)
    images = np.random.default_rng(0).integers(0, 256, (640, 1, 8, 8), dtype=np.uint8)
    # 64 requests of mixed sizes (1..37 rows), as a service sees them
    bounds = np.cumsum([0, *((np.arange(64) * 7) % 37 + 1)])
    requests = [images[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    alone = [encoder.encode(batch) for batch in requests]
    with ThreadPoolExecutor(max_workers=8) as pool:
        shared = list(pool.map(encoder.encode, requests * 3))
    for i, codes in enumerate(shared):
        for name, value in alone[i % len(requests)].items():
            np.testing.assert_array_equal(codes[name], value, err_msg=f"request {i}: {name}")
