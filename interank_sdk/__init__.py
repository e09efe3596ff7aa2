"""InteRank SDK: rerank retrieved passages with a small language model.

Example:
    >>> from interank_sdk import Reranker
    >>> reranker = Reranker("cross-encoder/ms-marco-MiniLM-L6-v2")  # doctest: +SKIP
    >>> results = reranker.rerank("what is a kinase?", ["A kinase is an enzyme ...", "Paris is ..."])  # doctest: +SKIP
    >>> results[0].index, round(results[0].score, 3)  # doctest: +SKIP
"""

from ._compat import quiet_bitsandbytes_kernel_fetch
from .base import BaseReranker
from .cascade import Cascade
from .errors import (
    BackendError,
    ConversionError,
    InteRankError,
    InvalidInputError,
    LabelTokenError,
    MissingDependencyError,
    ModelLoadError,
    UnsupportedError,
)
from .reranker import Reranker
from .types import Document, RankedDocument, RerankResult, RerankStats

quiet_bitsandbytes_kernel_fetch()  # before anything imports bitsandbytes (see interank_sdk._compat)

__version__ = "0.1.0"

__all__ = [
    "Reranker",
    "BaseReranker",
    "Cascade",
    "Document",
    "RankedDocument",
    "RerankResult",
    "RerankStats",
    "InteRankError",
    "InvalidInputError",
    "ModelLoadError",
    "ConversionError",
    "MissingDependencyError",
    "LabelTokenError",
    "UnsupportedError",
    "BackendError",
    "__version__",
]
