"""keyscribe: CTC recognizers for sEMG keystrokes and handwritten text lines."""

from keyscribe.api import (
    Recognizer,
    evaluate,
    load_config,
    load_model,
    model_info,
    train,
    transcribe,
)

__all__ = ["Recognizer", "evaluate", "load_config", "load_model", "model_info", "train", "transcribe"]
__version__ = "0.1.0"
