"""Small language models built from the attention blocks of chapters 01 and 03 (chapter 04 on)."""

from course_lib.lm.decoder import TinyDecoder, TinyDecoderConfig, greedy_generate

__all__ = ["TinyDecoder", "TinyDecoderConfig", "greedy_generate"]
