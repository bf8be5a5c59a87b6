"""Conversion: converted variants, OpenVINO or ONNX Runtime graphs of a text model, OpenVINO graphs of a text-to-image
pipeline's UNet and VAE decoder; each variant its own model in the store.

    convert("local/starter-text", to="onnx")   # registers local/starter-text-onnx
    text.generate("Once upon a time", model="local/starter-text-onnx")
    convert("local/starter-image", to="openvino")   # registers local/starter-image-openvino

A text variant holds one decoding step of the model exported with `torch.export` (the key/value cache as
plain tensors), converted by `openvino.convert_model` or `torch.onnx.export`, in float32; with ``int8=True``
(OpenVINO only) NNCF compresses its weights to int8, the fastest text path measured here
(benchmarks/bench_quantize.py). ONNX Runtime's dynamic int8 is not offered: no faster than torch's own
``quantize="int8"``, and it breaks on small vocabularies. Beside the graph: the source's
tokenizer and config and a `VARIANT_FILE` naming its source, revision,
tools and options. It loads as a transformers `GenerationMixin` model, so every generation setting
works on it as on the source. A picture variant (`convert.pipeline`) is the source's pipeline folder with
the UNet and the VAE as OpenVINO graphs; it loads as the source's diffusers pipeline class.
optimum-intel and optimum-onnx are not used: they pin transformers below 5.6 and 4.58.
The conversion is built in the store's scratch space (`ModelStore.scratch`) and registered whole, or not at all.

Modules: `graphs` (torch modules to OpenVINO or ONNX graphs), `pipeline` (a text-to-image pipeline's variant
folder), `variant` (`convert`: check, build in a scratch folder, register). What a variant is to the store lives
in `library.variants`, and running one in `engines.variant_text` / `engines.variant_image`: conversion sits above
the engines (it loads its source through them) and below the workflows and front ends.
"""

from creator_kit.convert.variant import convert, require_variant

__all__ = ["convert", "require_variant"]
