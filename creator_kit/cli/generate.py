"""``creator-kit generate text|image|video``: one engine call each, its output in words or ``--json``; and
``creator-kit reproduce FILE``, which runs an output's manifest again."""

from __future__ import annotations

import argparse
import sys

from creator_kit.cli.output import print_json
from creator_kit.core.events import TqdmReporter
from creator_kit.library.devices import DTYPES
from creator_kit.library.store import ModelStore

DTYPE_HELP = "the precision to run in (default: the fastest here, bfloat16 on CPUs with AVX512-BF16 / AMX)"
DECODER_HELP = "full (the model's VAE), tiny (an installed tiny autoencoder: fast drafts), auto, or a tiny one's id"


def register(subcommands: argparse._SubParsersAction) -> None:
    generate = subcommands.add_parser("generate", help="generate with an installed model").add_subparsers(
        dest="kind", required=True
    )
    text = generate.add_parser("text", help="continue a prompt with a text model")
    text.add_argument("--model", required=True, help="an installed text-generation model id")
    text.add_argument("--prompt", required=True)
    text.add_argument("--preset", default="balanced", help="precise, balanced or creative (default: balanced)")
    text.add_argument("--max-new-tokens", type=int)
    text.add_argument("--temperature", type=float)
    text.add_argument("--top-k", type=int)
    text.add_argument("--top-p", type=float)
    text.add_argument("--stop", action="append", help="end the text before this string (repeatable)")
    text.add_argument("--seed", type=int, help="the same seed gives the same text")
    text.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization (CPU)")
    text.add_argument(
        "--backend", choices=["torch", "openvino", "onnx"], default="torch", help="run the `models convert` variant"
    )
    text.add_argument("--stream", action="store_true", help="print the text as it is generated")
    text.add_argument("--out", help="save the text to this file, with its manifest beside it as FILE.json")
    text.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest) if it exists")
    text.add_argument("--json", action="store_true")
    text.set_defaults(handler=cmd_generate_text)

    picture = generate.add_parser("image", help="render a prompt with a text-to-image model")
    picture.add_argument("--model", required=True, help="an installed text-to-image model id")
    picture.add_argument("--prompt", required=True)
    picture.add_argument("--negative", help="what the image should not show")
    picture.add_argument("--width", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--height", type=int, help="a multiple of 8 (default: the model's native size)")
    picture.add_argument("--steps", type=int, help="sampling steps (default: the catalog's for the model, else 25)")
    picture.add_argument("--guidance", type=float, help="guidance (default: the catalog's for the model, else 7.5)")
    picture.add_argument("--scheduler", help="a diffusers scheduler class name, e.g. EulerDiscreteScheduler")
    picture.add_argument("--seed", type=int, help="the same seed gives the same image")
    picture.add_argument("--batch", type=int, help="images to render; image i uses seed + i")
    picture.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    picture.add_argument("--decoder", help=DECODER_HELP + " (default: full)")
    picture.add_argument(
        "--backend", choices=["torch", "openvino"], default="torch", help="run the `models convert` variant"
    )
    picture.add_argument("--out", required=True, help="the .png to write (a batch adds -1, -2... to the name)")
    picture.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    picture.add_argument("--json", action="store_true")
    picture.set_defaults(handler=cmd_generate_image)

    clip = generate.add_parser("video", help="make a video: native text-to-video, or a storyboard of images")
    clip.add_argument("--model", required=True, help="an installed text-to-video or text-to-image model id")
    story = clip.add_mutually_exclusive_group(required=True)
    story.add_argument("--prompt", help="the idea of the video")
    story.add_argument("--storyboard", help='a JSON file: a list of scene prompts, or {"scenes": [...], "idea": ...}')
    clip.add_argument("--text-model", help="a text-generation model that writes the scenes from --prompt")
    clip.add_argument("--scenes", type=int, help="how many scenes to make from --prompt (default 3)")
    clip.add_argument("--duration", type=float, help="seconds (default 4; a text-to-video model: its own length)")
    clip.add_argument("--fps", type=int, help="frames per second (default: the model's catalog fps or the quality's)")
    clip.add_argument("--width", type=int, help="a multiple of 8 (default: the model's catalog size or the quality's)")
    clip.add_argument("--height", type=int, help="a multiple of 8 (default: the model's catalog size or the quality's)")
    clip.add_argument("--quality", default="standard", help="draft, standard or high (default: standard)")
    clip.add_argument("--seed", type=int, help="the same seed gives the same video; scene i uses seed + i")
    clip.add_argument("--dtype", choices=DTYPES, help=DTYPE_HELP)
    clip.add_argument("--decoder", help=DECODER_HELP + " (default: the quality's; draft: auto)")
    clip.add_argument("--captions", action="store_true", help="write each scene's prompt over its frames")
    clip.add_argument("--audio", help="an audio file to play under the video (cut or padded to its length)")
    clip.add_argument("--gif", action="store_true", help="also write a GIF beside the MP4")
    clip.add_argument("--out", required=True, help="the .mp4 to write (its manifest goes beside it as FILE.json)")
    clip.add_argument("--overwrite", action="store_true", help="replace --out (and its manifest, sheet, GIF)")
    clip.add_argument("--json", action="store_true")
    clip.set_defaults(handler=cmd_generate_video)

    reproduce = subcommands.add_parser("reproduce", help="run an output's manifest again and compare")
    reproduce.add_argument("file", help="a PNG or MP4 made by Creator Kit, or a .txt / .json of a text result")
    reproduce.set_defaults(handler=cmd_reproduce)


def cmd_generate_text(args: argparse.Namespace) -> int:
    from creator_kit.engines import manifest, text

    options = {
        "model": args.model,
        "preset": args.preset,
        "quantize": args.quantize,
        "max_new_tokens": args.max_new_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "stop": args.stop,
        "seed": args.seed,
    }
    if args.backend != "torch":  # the converted variant of --model (its int8 one with --quantize int8)
        from creator_kit.convert import require_variant

        variant = require_variant(ModelStore(), args.model, args.backend, args.quantize == "int8")
        options.update(model=variant, quantize=None)
    if args.out:  # before any work: the file must be new (or --overwrite) and its folder writable
        manifest.output_path("text", "txt", out=args.out, overwrite=args.overwrite)
    if args.stream:
        pieces = text.stream(args.prompt, **options)
        for piece in pieces:
            print(piece, end="", flush=True, file=sys.stderr if args.json else sys.stdout)
        print(file=sys.stderr if args.json else sys.stdout)
        result = pieces.result
    else:
        result = text.generate(args.prompt, **options)
    if args.json:
        print_json(result.to_dict())
    elif not args.stream:
        print(result.text)
    if args.out:
        saved = result.save(out=args.out, overwrite=args.overwrite)
        print(f"Saved {saved} (manifest: {manifest.sidecar(saved)})", file=sys.stderr)
    print(
        f"{result.new_tokens} tokens in {result.elapsed_s:.2f} s ({result.tokens_per_s:.1f} tokens/s), "
        f"seed {result.manifest.seed}, {result.finish_reason}",
        file=sys.stderr,
    )
    return 0


def cmd_generate_image(args: argparse.Namespace) -> int:
    from creator_kit.engines import image, manifest

    for path in image.batch_paths(args.out, args.batch or 1):  # before any work: new files, a writable folder
        manifest.output_path("image", "png", out=path, overwrite=args.overwrite)
    params = {
        "negative_prompt": args.negative or "",
        "width": args.width,
        "height": args.height,
        "steps": args.steps,
        "guidance": args.guidance,
        "scheduler": args.scheduler,
        "seed": args.seed,
        "batch": args.batch,
        "decoder": args.decoder,
    }
    model = args.model
    if args.backend != "torch":  # the converted variant of --model
        from creator_kit.convert import require_variant

        model = require_variant(ModelStore(), args.model, args.backend)
    with TqdmReporter(file=sys.stderr) as reporter:
        result = image.generate(
            args.prompt,
            model=model,
            dtype=args.dtype,
            previews=False,
            on_event=reporter,
            **{key: value for key, value in params.items() if value is not None},
        )
    paths = result.save(out=args.out, overwrite=args.overwrite)
    if args.json:
        print_json(
            {"paths": [str(p) for p in paths], "elapsed_s": result.elapsed_s, "manifest": result.manifest.to_dict()}
        )
    else:
        for path in paths:
            print(path)
    print(f"{len(paths)} image(s) in {result.elapsed_s:.1f} s, seed {result.manifest.seed}", file=sys.stderr)
    return 0


def cmd_generate_video(args: argparse.Namespace) -> int:
    from creator_kit.engines import storyboard, video

    story = storyboard.read_file(args.storyboard) if args.storyboard else storyboard.Story(args.prompt or "")
    options = {
        "n_scenes": args.scenes,
        "duration": args.duration,
        "fps": args.fps,
        "width": args.width,
        "height": args.height,
        "quality": args.quality,
        "seed": args.seed,
        "audio": args.audio,
        "decoder": args.decoder,
    }
    with TqdmReporter(file=sys.stderr) as reporter:
        result = video.generate(
            story.idea,
            model=args.model,
            text_model=args.text_model,
            dtype=args.dtype,
            scenes=story.scenes,
            scene_seconds=story.scene_seconds,
            caption_texts=story.caption_texts,
            captions=args.captions,
            gif=args.gif,
            out=args.out,
            overwrite=args.overwrite,
            on_event=reporter,
            **{key: value for key, value in options.items() if value is not None},
        )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.path)
    print(
        f"{len(result.frames)} frames, {result.duration_s:g} s at {result.fps} fps in {result.elapsed_s:.1f} s "
        f"({', '.join(f'{stage} {seconds:.1f} s' for stage, seconds in result.stage_seconds.items())}), "
        f"seed {result.manifest.seed}",
        file=sys.stderr,
    )
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from creator_kit.engines.tasks import reproduce

    reproduction = reproduce(args.file)
    print(reproduction.summary())
    return 0 if reproduction.matches else 1
