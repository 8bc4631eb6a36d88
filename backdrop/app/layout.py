"""The page: its controls (made from the KNOBS table), tabs, samples and events."""
from __future__ import annotations

import gradio as gr

from ..params import KNOB, TONE_PRESETS, Params
from .handlers import (
    PAGE_KNOBS,
    WELCOME,
    _clear,
    api_clean,
    on_change,
    on_download,
    on_example,
    on_load_preset,
    on_mask,
    on_overlay,
    on_save_preset,
    on_unload,
    on_upload,
)
from .session import (
    FILE_TYPES,
    MAX_MB,
    MAX_MP,
    SAMPLES,
    SESSION_TTL,
    VIEW_NAMES,
    drop_session,
    new_session,
)

# ============================================================================ layout

INTRO = """# Clean Backdrop
Lift cast shadows and smooth scuffs on studio backdrops; the subject stays exactly as shot.
Drop a photo (JPEG, PNG, TIFF 8/16-bit or WebP, up to {mb:g} MB and {mp:g} MP), dial the sliders
by eye on the preview, then download the full-resolution file.""".format(mb=MAX_MB, mp=MAX_MP)


# After the full-resolution file is made, the browser saves it: one click on the button is enough.
# (No file under the button, after a failure, means nothing to save.)
SAVE_IN_BROWSER = """() => {
    const link = document.querySelector('#full-file a[download]');
    if (link) link.click();
}"""


def control(name: str, *, elem_id: str | None = None):
    """The page's control for a knob, made from its row in KNOBS (range, step, label, help)."""
    k, value, eid = KNOB[name], getattr(Params(), name), elem_id or name
    if k.word_or_number:  # a word, or a number typed in (tone: keep, match, 250)
        presets = [*k.choices, *(str(v) for v in TONE_PRESETS)] if name == "tone" else list(k.choices)
        return gr.Dropdown(presets, value=str(value), allow_custom_value=True, label=k.label,
                           info=f"{' / '.join(k.choices)} or a level {k.low:g}-{k.high:g} (255: pure white)",
                           elem_id=eid)
    if k.choices:
        return gr.Radio(list(k.choices), value=value, label=k.label, info=None, elem_id=eid)
    if k.type is bool:
        return gr.Checkbox(value, label=k.label, elem_id=eid)
    return gr.Slider(k.low, k.high, value=value, step=k.step, label=k.label, elem_id=eid)


def build_demo() -> gr.Blocks:
    """The page. Every handler is a plain function above; state is per session."""
    d = Params()
    with gr.Blocks(title="Clean Backdrop", delete_cache=(1800, SESSION_TTL)) as demo:
        session = gr.State(new_session, time_to_live=SESSION_TTL, delete_callback=drop_session)
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=320):
                photo = gr.File(label="Photo", file_types=FILE_TYPES, elem_id="photo")
                c = {name: control(name) for name in ("lift", "texture", "tone")}  # the page's knobs, as laid out
                show_overlay = gr.Checkbox(False, label="Show the subject (magenta) and floor (cyan)",
                                           elem_id="overlay")
                with gr.Accordion("Advanced", open=False):
                    c.update({name: control(name) for name in ("feather", "grain", "floor", "folds")})
                    c["protect_contact_shadows"] = control("protect_contact_shadows", elem_id="contact")
                    c["segmenter"] = control("segmenter")
                    mask = gr.File(label="Subject mask (optional)", file_types=FILE_TYPES, elem_id="mask")
                    gr.Markdown("A mask image of the same size, white = subject, wins over the segmenter.")
                download_btn = gr.Button("Download full resolution", variant="primary", elem_id="download")
                full_file = gr.File(label="Cleaned photo", interactive=False, visible=False, elem_id="full-file")
                with gr.Row():
                    save_btn = gr.Button("Save preset", size="md", min_width=100, elem_id="save-preset")
                    load_btn = gr.UploadButton("Load preset", file_types=[".yaml", ".yml"], size="md",
                                               min_width=100, elem_id="load-preset")
                preset_file = gr.File(label="Preset (YAML)", interactive=False, visible=False,
                                      elem_id="preset-file")
            with gr.Column(scale=3):
                status = gr.Markdown(WELCOME, label="status",
                                     show_label=False, elem_id="status")
                images = []
                with gr.Tabs(selected="preview"):
                    for name in VIEW_NAMES:
                        with gr.Tab(name.capitalize(), id=name):
                            images.append(gr.Image(label=name.capitalize(), type="filepath",
                                                   format="jpeg", interactive=False, height=640,
                                                   buttons=["fullscreen"], elem_id=f"view-{name}"))
                samples = sorted(p for p in SAMPLES.glob("*.jpg"))
                examples = gr.Examples(
                    [[str(p), str(p.parent / "masks" / (p.stem + "_mask.png"))] for p in samples],
                    inputs=[photo, mask], label="Samples (with their subject masks)",
                    cache_examples=False,
                )
        with gr.Column(visible=False):  # the stateless API: file + lift + texture (+ YAML) -> file
            api_image = gr.File(label="image")
            api_lift = gr.Number(d.lift, label="lift")
            api_texture = gr.Number(d.texture, label="texture")
            api_params = gr.File(label="params_yaml")
            api_out = gr.File(label="cleaned")
            api_btn = gr.Button("clean")

        knobs = [c[name] for name in PAGE_KNOBS]  # as the handlers take them
        shown = images + [status, session]
        photo.upload(on_upload, [session, photo, *knobs, show_overlay], shown + [mask, photo],
                     api_name="upload", show_progress="full")
        photo.clear(_clear, [session], shown + [mask], api_visibility="private")
        examples.load_input_event.then(on_example, [session, photo, mask, *knobs, show_overlay], shown,
                                       api_visibility="private")
        mask.upload(on_mask, [session, mask, *knobs, show_overlay], shown + [mask], api_name="set_mask")
        mask.clear(on_mask, [session, mask, *knobs, show_overlay], shown + [mask], api_visibility="private")
        gr.on([c[n].release if isinstance(c[n], gr.Slider) else c[n].input for n in PAGE_KNOBS],
              on_change, [session, *knobs, show_overlay], shown, api_name="update",
              trigger_mode="always_last", show_progress="minimal")
        show_overlay.input(on_overlay, [session, show_overlay], shown, api_name="overlay",
                           show_progress="hidden")
        download_btn.click(on_download, [session, *knobs], [full_file, status, session], api_name="download").then(
            None, None, None, js=SAVE_IN_BROWSER)
        save_btn.click(on_save_preset, [session, *knobs], [preset_file, status, session], api_name="save_preset")
        load_btn.upload(on_load_preset, [session, load_btn, show_overlay], [*knobs, *shown], api_name="load_preset")
        api_btn.click(api_clean, [api_image, api_lift, api_texture, api_params], api_out, api_name="clean",
                      concurrency_limit=1)
        demo.unload(on_unload)
    return demo
