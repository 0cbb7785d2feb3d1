"""Customer segmentation model: binned features + weighted K-Means on distinct vectors.

The model discretizes every (non one-hot) feature into a few ordinal bins, so the
customers collapse onto at most ``n_bins ** d`` distinct vectors (about 32-48 for
RFM with 4 bins). Everything after discretization -- K-Means, silhouette,
Davies-Bouldin, Calinski-Harabasz, bootstrap stability -- runs on the distinct
vectors with their customer counts as weights, which is exactly equivalent to
running it on all customers but thousands of times cheaper. See docs/MODEL.md.

One module per job:

- ``segmenter``: the :class:`Segmenter` estimator (fit, predict, to_pipeline);
- ``params``: what the estimator accepts (parameters, feature columns);
- ``binning``: distinct binned vectors with their counts;
- ``metrics``: weighted silhouette, Davies-Bouldin, Calinski-Harabasz, ARI;
- ``kmeans``: the batched weighted k-means behind the bootstrap stability;
- ``selection``: where k is chosen (the elbow and the k rule);
- ``naming``: where segments are named and described;
- ``ids``: segment ids kept across builds;
- ``tsne``: the 2-D map.
"""

from segkit.errors import SegmentationWarning
from segkit.feature_names import RFM_FEATURES
from segkit.model.ids import match_segment_ids
from segkit.model.metrics import (
    weighted_adjusted_rand,
    weighted_calinski_harabasz,
    weighted_davies_bouldin,
    weighted_silhouette,
)
from segkit.model.naming import describe_segment, rfm_segment_name
from segkit.model.segmenter import Segmenter
from segkit.model.selection import find_elbow
from segkit.model.tsne import TSNE_DEFAULTS, TsneResult, tsne_map

__all__ = [
    "Segmenter",
    "SegmentationWarning",
    "TsneResult",
    "TSNE_DEFAULTS",
    "RFM_FEATURES",
    "describe_segment",
    "find_elbow",
    "match_segment_ids",
    "rfm_segment_name",
    "tsne_map",
    "weighted_adjusted_rand",
    "weighted_calinski_harabasz",
    "weighted_davies_bouldin",
    "weighted_silhouette",
]
