"""Streaming sEMG recognition, one module per stage of the data flow:

- ``stages``: spectrogram, convolution, recurrent and windowed stages that carry state;
- ``recognizer``: ``StreamingRecognizer``, chunks of EMG in, key glyphs out;
- ``chunked``: a whole session's log-probs in exact overlapping chunks (TDSConv);
- ``whole_session``: which of those paths offline decoding of a whole session takes;
- ``replay``: a recorded session replayed chunk by chunk, timed and compared with offline.
"""

from keyscribe.emg.streaming.recognizer import StreamingOptions, StreamingRecognizer
from keyscribe.emg.streaming.replay import replay_session

__all__ = ["StreamingOptions", "StreamingRecognizer", "replay_session"]
