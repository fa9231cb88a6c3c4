"""Inference on people's own videos: the predictor, its outputs, live sources and the
server. Faces are found and cropped by :mod:`maedfer.faces`."""

from .clips import CROPS, SampledFaces, sample_faces
from .loading import ClassifierSpec, load_classifier
from .predictor import FacePrediction, Predictor, VideoPrediction, Window, load

__all__ = [
    "CROPS",
    "ClassifierSpec",
    "FacePrediction",
    "Predictor",
    "SampledFaces",
    "VideoPrediction",
    "Window",
    "load",
    "load_classifier",
    "sample_faces",
]
