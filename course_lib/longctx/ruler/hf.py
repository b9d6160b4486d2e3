"""Any Hugging Face causal LM behind RULER's interface, with its chat template (chapter 02, full scale).

RULER evaluates chat models by wrapping the task input in the model's chat template and
starting the assistant's turn with the answer prefix; decoding is greedy with the task's
token budget. A wrong template changes scores a lot (a pitfall reported on the reference
repository), so the template is the tokenizer's own.
"""

from __future__ import annotations

import torch

from course_lib.longctx.ruler.templates import ANSWER_PREFIXES


def split_answer_prefix(prompt: str) -> tuple[str, str]:
    """(input, answer prefix) of a RULER prompt, split where the reference splits it: at the last
    occurrence of the first 10 characters of the task's answer prefix."""
    cuts = [prompt.rfind(prefix[:10]) for prefix in ANSWER_PREFIXES.values()]
    cut = max(cuts)
    if cut < 0:
        raise ValueError("no RULER answer prefix in this prompt: pass input + answer_prefix (Sample.prompt)")
    return prompt[:cut], prompt[cut:]


class HFCausalLM:
    """``model(prompt, max_new_tokens) -> text`` for a transformers causal LM and its tokenizer.

    With ``chat=True`` (and a tokenizer that has a chat template) the input becomes the user turn
    and the answer prefix opens the assistant turn; otherwise the prompt is read as it is.
    """

    def __init__(self, model, tokenizer, chat: bool = True) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.chat = chat and getattr(tokenizer, "chat_template", None) is not None

    def format(self, prompt: str) -> str:
        """The exact text the model reads."""
        if not self.chat:
            return prompt
        user, prefix = split_answer_prefix(prompt)
        turn = self.tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
        return turn + prefix

    @torch.no_grad()
    def __call__(self, prompt: str, max_new_tokens: int) -> str:
        text = self.format(prompt)
        ids = self.tokenizer(text, add_special_tokens=not self.chat, return_tensors="pt").to(self.model.device)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        out = self.model.generate(**ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def load_hf_model(name: str, device: str | torch.device = "cuda", dtype: torch.dtype = torch.bfloat16) -> HFCausalLM:
    """Load ``name`` from the Hugging Face hub (full scale: needs the network and a GPU)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:
        raise ImportError("the full-scale RULER run needs transformers: pip install 'transformers>=4.40'") from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, torch_dtype=dtype).to(device)
    except OSError as error:
        raise RuntimeError(
            f"could not load {name!r} from the Hugging Face hub ({error}). The full-scale run downloads the "
            "model: run it with network access (and `huggingface-cli login` for gated models), or unset COURSE_SCALE."
        ) from error
    return HFCausalLM(model, tokenizer)
