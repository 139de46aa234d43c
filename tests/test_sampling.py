"""Sampling: greedy is argmax, top-k and top-p bound the candidates, seeds reproduce."""

from __future__ import annotations

import numpy as np

from edgekit.runtime import GREEDY, Sampling

LOGITS = np.log(np.array([0.5, 0.2, 0.15, 0.1, 0.05], dtype=np.float32))


def _draws(sampling: Sampling, n: int = 400) -> list[int]:
    pick = sampling.picker()
    return [pick(LOGITS) for _ in range(n)]


def test_greedy_and_top_k_1_take_the_argmax():
    assert set(_draws(GREEDY, 5)) == {0}
    assert set(_draws(Sampling(temperature=1.0, top_k=1, seed=3), 50)) == {0}
    assert GREEDY.engine_config() == {"top_k": 1, "temperature": 0.0, "seed": 0}


def test_top_k_bounds_the_candidates():
    drawn = set(_draws(Sampling(temperature=1.0, top_k=2, top_p=1.0, seed=1)))
    assert drawn == {0, 1}


def test_top_p_keeps_the_smallest_set_reaching_its_mass():
    # 0.5 + 0.2 = 0.7 reaches 0.6: tokens 0 and 1 only
    assert set(_draws(Sampling(temperature=1.0, top_k=5, top_p=0.6, seed=2))) == {0, 1}
    # 1.0 keeps all five, and never more than the candidates
    assert set(_draws(Sampling(temperature=1.0, top_k=5, top_p=1.0, seed=2), 2000)) == {0, 1, 2, 3, 4}


def test_frequencies_follow_the_distribution():
    draws = np.array(_draws(Sampling(temperature=1.0, top_k=5, top_p=1.0, seed=4), 4000))
    assert abs((draws == 0).mean() - 0.5) < 0.04
    assert abs((draws == 4).mean() - 0.05) < 0.02


def test_a_seed_reproduces_and_another_differs():
    a = _draws(Sampling(temperature=1.0, top_k=5, seed=7), 50)
    assert a == _draws(Sampling(temperature=1.0, top_k=5, seed=7), 50)
    assert a != _draws(Sampling(temperature=1.0, top_k=5, seed=8), 50)


def test_engine_defaults_for_sampled_decoding():
    config = Sampling(temperature=0.7, seed=5).engine_config()
    assert config == {"top_k": 64, "top_p": 0.95, "temperature": 0.7, "seed": 5}
