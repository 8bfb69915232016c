"""fastrnn: single-layer (Elman) recurrent neural networks for NumPy.

The model of the sequence-models course, with the hot loops in Cython calling
BLAS:

    a<t> = tanh(Waa a<t-1> + Wax x<t> + ba)
    ŷ<t> = softmax(Wya a<t> + by)

Public numerical contract: :func:`init_params`, :func:`forward`,
:func:`loss_and_grads`, :func:`sample`; :mod:`fastrnn.reference` holds their
NumPy twins.  Models: :class:`LanguageModel`, :class:`SequenceClassifier`.
"""
__version__ = "0.1.0"

from . import interop, optim, reference
from ._api import forward, get_num_threads, init_params, loss_and_grads, set_num_threads
from ._validate import FastRNNIndexError
from .classifier import NotFittedError, SequenceClassifier
from .models import LanguageModel
from .sampling import sample
from .vocab import Vocabulary

__all__ = [
    "__version__",
    "FastRNNIndexError",
    "LanguageModel",
    "NotFittedError",
    "SequenceClassifier",
    "Vocabulary",
    "forward",
    "get_num_threads",
    "init_params",
    "interop",
    "loss_and_grads",
    "optim",
    "reference",
    "sample",
    "set_num_threads",
]
