"""Answer aggregation (truth inference) for crowd labels: numpy / scipy / scikit-learn only.

Typical use::

    from consensus import AGGREGATORS, encode_answers

    enc = encode_answers(task_ids, worker_ids, labels)
    model = AGGREGATORS["auto"]().fit(enc.X, n_classes=enc.n_classes)
    consensus_labels = enc.decode(model.labels_)

This package imports nothing of Fairlabel's and nothing of Flask / SQLAlchemy.
"""

from .auto import Auto
from .boxes import BoxFusion
from .dawid_skene import DawidSkene
from .encoding import EncodedAnswers, encode_answers
from .errors import ConsensusError, InvalidAnswers, NotFittedError
from .frozen import FrozenModel
from .glad import GLAD
from .ibcc import IBCC
from .incremental import update_posterior
from .keypoints import KeypointFusion
from .mace import MACE
from .majority_vote import MajorityVote
from .matching import (
    MatchResult,
    box_f1,
    keypoint_f1,
    match_regions,
    polygon_f1,
    segment_f1,
    segment_iou,
)
from .multilabel import MultiLabelAggregator
from .one_coin_dawid_skene import OneCoinDawidSkene
from .polygons import PolygonFusion, polygon_iou
from .segments import SegmentVote
from .spans import SpanVote
from .wawa import Wawa

#: name -> aggregator class, for the platform and the CLI to pick by name
AGGREGATORS = {
    "majority_vote": MajorityVote,
    "wawa": Wawa,
    "dawid_skene": DawidSkene,
    "one_coin_dawid_skene": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
    "ibcc": IBCC,
    "auto": Auto,
}

__all__ = [
    "AGGREGATORS",
    "Auto",
    "BoxFusion",
    "ConsensusError",
    "DawidSkene",
    "EncodedAnswers",
    "FrozenModel",
    "GLAD",
    "IBCC",
    "InvalidAnswers",
    "KeypointFusion",
    "MACE",
    "MajorityVote",
    "MatchResult",
    "MultiLabelAggregator",
    "NotFittedError",
    "OneCoinDawidSkene",
    "PolygonFusion",
    "SegmentVote",
    "SpanVote",
    "Wawa",
    "box_f1",
    "encode_answers",
    "keypoint_f1",
    "match_regions",
    "polygon_f1",
    "polygon_iou",
    "segment_f1",
    "segment_iou",
    "update_posterior",
]
