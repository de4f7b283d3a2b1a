"""Deep Compression (Han et al., ICLR'16) and the EIE encoding (Han et al., ISCA'16).

Pruning with retraining (:mod:`.prune`), k-means weight sharing and centroid fine-tuning
(:mod:`.share`), the integer compressed model (:mod:`.qmodel`), Huffman coding
(:mod:`.huffman`), the interleaved CSC encoder (:mod:`.csc`) and the whole pipeline
(:mod:`.pipeline`).
"""

from .csc import EieEncodingError, EieMatrix, eie_decode, eie_encode, eie_spmv
from .huffman import HuffmanCode, HuffmanError
from .pipeline import CompressionReport, CompressOptions, compress, write_outputs
from .prune import magnitude_masks, prune_and_retrain
from .qmodel import CompressedMlp, QuantLayer, load_compressed, save_compressed
from .share import SharedWeights, finetune_centroids, kmeans_share

__all__ = [
    "CompressOptions",
    "CompressedMlp",
    "CompressionReport",
    "EieEncodingError",
    "EieMatrix",
    "HuffmanCode",
    "HuffmanError",
    "QuantLayer",
    "SharedWeights",
    "compress",
    "eie_decode",
    "eie_encode",
    "eie_spmv",
    "finetune_centroids",
    "kmeans_share",
    "load_compressed",
    "magnitude_masks",
    "prune_and_retrain",
    "save_compressed",
    "write_outputs",
]
