"""Faces in raw video: found, followed from frame to frame, aligned and cropped.

One part for every user of faces: ``maedfer faces`` (training data from raw videos),
``prepare --faces``, ``predict``, ``app``, ``serve`` and ``live``. It works on frames
(``(H, W, 3)`` uint8 RGB arrays); reading videos is :mod:`maedfer.data`'s business.

- :mod:`.boxes`: face boxes, tracks over time, smoothing, square crops;
- :mod:`.landmarks`: the landmark tracker (the default): BlazeFace starts, Face Mesh follows;
- :mod:`.points`: the mesh's points in the 68-point scheme, and where OpenFace puts them;
- :mod:`.model_files`: the MediaPipe models shipped in ``models/``, on OpenCV or LiteRT;
- :mod:`.detectors`: detectors by name (``landmarks``, ``haar``, ``yunet``, one's own);
- :mod:`.find`: detections over a run of frames, tracks, and the crops;
- :mod:`.stash`: frames kept between finding and cropping, so a video is decoded once;
- :mod:`.align`: how a followed face becomes a square image (:class:`FaceCrop`).
"""

from .align import ALIGNS, OPENFACE_LIKE, FaceCrop
from .boxes import Box, FaceTrack, crop_face, smooth_track, track_faces
from .detectors import DETECTORS, FaceDetector, HaarFaceDetector, YuNetFaceDetector, make_detector
from .find import NoFaceError, find_faces
from .landmarks import LandmarkTracker

__all__ = [
    "ALIGNS",
    "DETECTORS",
    "OPENFACE_LIKE",
    "Box",
    "FaceCrop",
    "FaceDetector",
    "FaceTrack",
    "HaarFaceDetector",
    "LandmarkTracker",
    "NoFaceError",
    "YuNetFaceDetector",
    "crop_face",
    "find_faces",
    "make_detector",
    "smooth_track",
    "track_faces",
]
