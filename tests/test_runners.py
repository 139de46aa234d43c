"""One runner interface over LiteRT-LM, the LiteRT interpreter and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

from edgekit.runtime import GREEDY, Sampling, open_runner

TEXT = "the capital of france is paris and the capital of italy is rome"


def _fp32(converted, onnx_converted, kind: str):
    return onnx_converted["gemma3"]["fp32"] if kind == "onnx" else converted["gemma3"][("fp32", kind)]


@pytest.mark.parametrize("kind", ["litertlm", "task", "onnx"])
def test_prefill_then_decode_steps_equal_teacher_forced_logits(converted, onnx_converted, kind):
    with open_runner(_fp32(converted, onnx_converted, kind)) as runner:
        ids = [runner.bos, *runner.tokenize(TEXT)]
        rows = np.stack(list(runner.logits(ids)))
        tolerance = 1e-4 * np.abs(rows).max()
        np.testing.assert_allclose(runner.prefill(ids[:3]), rows[2], atol=tolerance)
        for position in range(3, len(ids)):
            np.testing.assert_allclose(runner.decode_step(ids[position]), rows[position], atol=tolerance)


@pytest.mark.parametrize("family", ["gemma2", "gemma3"])
def test_onnx_prefill_in_chunks_equals_one_call(onnx_converted, family):
    """A prompt longer than a chunk and the sliding window: chunked logits equal one call's."""
    from edgekit.runtime.onnx_runner import PREFILL_CHUNK, decoder_feeds, empty_past

    with open_runner(onnx_converted[family]["fp32"]) as runner:
        ids = [runner.bos, *runner.tokenize(" ".join([TEXT] * 20))][: 2 * PREFILL_CHUNK + 9]
        assert len(ids) == 2 * PREFILL_CHUNK + 9
        assert runner.keeps_last  # prefill asks for the last row only, and gets one
        feeds = {**decoder_feeds(ids, 0, empty_past(runner.session)), "logits_to_keep": np.array([1])}
        assert runner.session.run(["logits"], feeds)[0].shape[1] == 1
        one_call = runner.session.run(["logits"], decoder_feeds(ids, 0, empty_past(runner.session)))[0][0]
        chunked = np.stack(list(runner.logits(ids)))
        np.testing.assert_allclose(chunked, one_call, atol=1e-4 * np.abs(one_call).max())
        np.testing.assert_allclose(runner.prefill(ids), one_call[-1], atol=1e-4 * np.abs(one_call).max())


@pytest.mark.parametrize("family", ["gemma2", "gemma3"])
def test_onnx_kv_cache_extended_in_place_equals_the_copied_one(onnx_converted, family):
    """GroupQueryAttention writing into the bound past buffer (grown three times here, past the
    sliding window) gives the logits that feeding the past as arrays gives."""
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.onnx_runner import CopiedCache, OnnxRunner, SharedCache

    artifact = open_artifact(onnx_converted[family]["fp32"])
    shared, copied = OnnxRunner(artifact), OnnxRunner(artifact, share_kv_buffer=False)
    assert isinstance(shared.cache, SharedCache) and isinstance(copied.cache, CopiedCache)
    shared.cache = SharedCache(shared.session, tokens=20)
    ids = [shared.bos, *shared.tokenize(" ".join([TEXT] * 20))][:137]
    expected = np.stack(list(copied.logits(ids)))
    tolerance = 1e-4 * np.abs(expected).max()
    np.testing.assert_allclose(np.stack(list(shared.logits(ids))), expected, atol=tolerance)
    assert shared.cache.capacity == 256  # 20, then 64, 128, 256 as the chunks came
    shared.cache = SharedCache(shared.session, tokens=20)
    np.testing.assert_allclose(shared.prefill(ids[:90]), expected[89], atol=tolerance)
    for position in range(90, len(ids)):
        np.testing.assert_allclose(shared.decode_step(ids[position]), expected[position], atol=tolerance)
    assert shared.cache.capacity == 180  # the prompt's 90, doubled by the first decode step


def test_onnx_graph_holds_its_declared_context_and_refuses_more(onnx_converted):
    """The attention kernel rotates from tables of the context length's positions
    (genai_config.json's, the KV cache of `convert --max-tokens`): a sequence that fills it
    runs, and one token more is refused in one line instead of failing inside the kernel."""
    from edgekit.core.errors import EdgekitError

    with open_runner(onnx_converted["gemma3"]["fp32"]) as runner:
        assert runner.cache_length == 1024
        ids = [runner.bos, *runner.tokenize(" ".join([TEXT] * 100))][:1024]
        assert len(ids) == 1024
        assert np.isfinite(runner.prefill(ids)).all()
        with pytest.raises(EdgekitError, match="outgrew the graph's context of 1024 tokens"):
            runner.decode_step(ids[-1])


def test_scores_agree_across_backends(converted, onnx_converted):
    """The same fp32 weights through the interpreter (bundle) and onnxruntime (graph)."""
    with (
        open_runner(_fp32(converted, onnx_converted, "litertlm")) as bundle,
        open_runner(_fp32(converted, onnx_converted, "onnx")) as graph,
    ):
        a, b = bundle.score(TEXT), graph.score(TEXT)
    assert a.ids == b.ids and len(a.ids) > 10
    np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-3)
    assert a.perplexity == pytest.approx(b.perplexity, rel=1e-3)
    assert np.all(a.logprobs <= 0)


def test_generate_streams_the_greedy_steps(onnx_converted):
    with open_runner(onnx_converted["gemma3"]["int8"]) as runner:
        prompt_ids = [runner.bos, *runner.tokenize("the capital of france is")]
        expected = [int(np.argmax(runner.prefill(prompt_ids)))]
        while len(expected) < 6 and expected[-1] not in runner.stop_ids:
            expected.append(int(np.argmax(runner.decode_step(expected[-1]))))
        expected = [t for t in expected if t not in runner.stop_ids]
        chunks = list(runner.generate("the capital of france is", 6, GREEDY))
    assert "".join(chunks) == runner.detokenize(expected) and all(chunks)


def test_sampling_is_seeded_and_top_k_1_is_greedy(onnx_converted):
    with open_runner(onnx_converted["gemma3"]["int8"]) as runner:
        prompt = [runner.bos, *runner.tokenize("the capital")]

        def sample(sampling: Sampling) -> list[int]:
            return list(runner.generate_ids(prompt, 12, sampling))

        hot = Sampling(temperature=1.5, top_k=64, top_p=1.0, seed=7)
        assert sample(hot) == sample(hot)
        assert len({tuple(sample(Sampling(1.5, 64, 1.0, seed))) for seed in range(4)}) > 1
        assert sample(Sampling(temperature=1.5, top_k=1)) == sample(GREEDY)


def test_an_abandoned_stream_leaves_the_engine_usable(converted):
    """Stopping a LiteRT-LM stream mid-answer must not leave its answer for the next request."""
    with open_runner(converted["gemma3"][("int8", "litertlm")]) as runner:
        stream = runner.generate("the capital of france is", 64)
        next(stream)
        stream.close()
        first = "".join(runner.generate("the capital of france is", 4))
        again = "".join(runner.generate("the capital of france is", 4))
    assert first and first == again


def test_streamed_text_holds_back_a_character_until_its_last_byte(converted):
    """A character the model spells in byte-fallback tokens is streamed whole, once."""
    from edgekit.runtime.artifact import open_artifact
    from edgekit.runtime.runner import Runner

    class Scripted(Runner):
        """The real bundle's tokenizer; logits that pick a scripted id list (the streaming logic under test)."""

        backend = "scripted"

        def __init__(self, artifact, script):
            super().__init__(artifact)
            self.script = iter(script)

        def _next(self):
            row = np.zeros(len(self.tokenizer), dtype=np.float32)
            row[next(self.script, self.stop_ids[0])] = 1.0
            return row

        def prefill(self, ids):
            return self._next()

        def decode_step(self, token):
            return self._next()

        def logits(self, ids):
            raise NotImplementedError

    runner = Scripted(open_artifact(converted["gemma3"][("int8", "task")]), [])
    text = "a 日本 b"
    script = [
        runner.tokenizer.piece_to_id(f"<0x{b:02X}>")
        if ch not in "ab "
        else runner.tokenizer.piece_to_id("▁" if ch == " " else ch)
        for ch in text
        for b in ch.encode()
    ]
    assert runner.tokenizer.decode(script) == text  # the script spells it in byte tokens
    runner.script = iter(script)
    chunks = list(runner.generate("x", len(script)))
    assert "".join(chunks) == text and "\ufffd" not in "".join(chunks)
    assert "日" in chunks and "本" in chunks  # each arrived whole, in its own chunk
