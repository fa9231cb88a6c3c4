"""Inference on people's own videos: faces, the predictor, and its outputs."""

from .clips import CROPS, NoFaceError, SampledFaces, find_faces, sample_faces
from .detectors import DETECTORS, FaceDetector, HaarFaceDetector, YuNetFaceDetector, make_detector
from .faces import Box, FaceTrack, crop_face, smooth_track, track_faces
from .loading import ClassifierSpec, load_classifier
from .predictor import FacePrediction, Predictor, VideoPrediction, Window, load

__all__ = [
    "CROPS",
    "DETECTORS",
    "Box",
    "ClassifierSpec",
    "FaceDetector",
    "FacePrediction",
    "FaceTrack",
    "HaarFaceDetector",
    "NoFaceError",
    "Predictor",
    "SampledFaces",
    "VideoPrediction",
    "Window",
    "YuNetFaceDetector",
    "crop_face",
    "find_faces",
    "load",
    "load_classifier",
    "make_detector",
    "sample_faces",
    "smooth_track",
    "track_faces",
]
