"""Inference on people's own videos: faces, the predictor, and its outputs."""
from .faces import Box, FaceDetector, FaceTrack, HaarFaceDetector, crop_face, smooth_track, track_faces
from .loading import ClassifierSpec, load_classifier
from .clips import CROPS, NoFaceError, SampledFaces, sample_faces
from .predictor import FacePrediction, Predictor, VideoPrediction, Window, load

__all__ = ["CROPS", "SampledFaces", "sample_faces", "Box", "ClassifierSpec", "FaceDetector", "FacePrediction", "FaceTrack", "HaarFaceDetector", "NoFaceError",
           "Predictor", "VideoPrediction", "Window", "crop_face", "load", "load_classifier", "smooth_track",
           "track_faces"]
