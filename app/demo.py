"""The demo data set: people, jobs and media the project makes itself (no downloads).

Pillow draws the shapes; numpy synthesizes the WAV tones. `load_demo` is idempotent: it does
nothing when the demo requester already exists.
"""
from __future__ import annotations

import io
import json
import wave

import numpy as np
from flask import current_app
from PIL import Image, ImageDraw

from annotation.imports import UploadedFile
from app.extensions import db, utcnow
from app.identity.accounts import create_user
from app.identity.models import User
from app.operations.jobs import add_items as import_upload
from app.operations.jobs import create_job, publish_job
from rewards.funding import credit_requester

DEMO_PASSWORD = "fairlabel-demo"
DEMO_USERS = [("requester", "requester"), ("ann", "annotator"), ("bob", "annotator"),
              ("cyd", "annotator")]

SENTENCES = [
    ("I love how quickly this arrived, it works perfectly.", "positive"),
    ("Terrible support, I waited two weeks for a reply.", "negative"),
    ("The package is blue and weighs about a kilogram.", "neutral"),
    ("Best purchase I have made all year!", "positive"),
    ("It broke after one day. Very disappointed.", "negative"),
    ("The manual is available in four languages.", "neutral"),
    ("Friendly staff and a great atmosphere.", "positive"),
    ("The food was cold and the room was noisy.", "negative"),
    ("The store opens at nine on weekdays.", "neutral"),
    ("Absolutely wonderful, would recommend to everyone.", "positive"),
    ("Overpriced and underwhelming.", "negative"),
    ("This model comes in black or silver.", "neutral"),
]
SHAPES = ("circle", "square", "triangle")
TONES = {"low": 220.0, "high": 880.0}

TEXT_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="positive"/>
    <Choice value="negative"/>
    <Choice value="neutral"/>
  </Choices>
</View>"""
IMAGE_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="shape" toName="image" choice="single">
    <Choice value="circle"/>
    <Choice value="square"/>
    <Choice value="triangle"/>
  </Choices>
</View>"""
AUDIO_CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <Choices name="pitch" toName="audio" choice="single">
    <Choice value="low"/>
    <Choice value="high"/>
  </Choices>
</View>"""


def shape_png(shape: str, seed: int, size: int = 256) -> bytes:
    rng = np.random.default_rng(seed)
    background = tuple(int(v) for v in rng.integers(200, 256, 3))
    color = tuple(int(v) for v in rng.integers(0, 160, 3))
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    margin = int(rng.integers(24, 64))
    box = (margin, margin, size - margin, size - margin)
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle(box, fill=color)
    else:
        draw.polygon([(size // 2, margin), (size - margin, size - margin), (margin, size - margin)], fill=color)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def tone_wav(frequency: float, seconds: float = 1.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)  # no clicks at the ends
    samples = (0.4 * np.sin(2 * np.pi * frequency * t) * fade * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def demo_wallet(username: str) -> str:
    """A fixed address per demo annotator (derived from the name: a demo key, never a real one)."""
    from eth_account import Account
    from eth_utils import keccak

    return Account.from_key(keccak(text=f"fairlabel-demo-wallet:{username}")).address


def load_demo() -> bool:
    """Create the demo users and jobs unless they exist; True if anything was created."""
    if db.session.scalar(db.select(User.id).where(User.username == DEMO_USERS[0][0])) is not None:
        return False
    users = {name: create_user(name, DEMO_PASSWORD, role) for name, role in DEMO_USERS}
    for name, role in DEMO_USERS:  # demo payout wallets, so the worker has somewhere to pay
        if role == "annotator":
            users[name].wallet_address = demo_wallet(name)
            users[name].wallet_verified_at = utcnow()
    requester = users["requester"]
    credit_requester(requester, 100_000, key="demo-requester")
    media_root = current_app.config["MEDIA_ROOT"]

    text_job = create_job(requester, title="Sentiment of short reviews", label_config=TEXT_CONFIG,
                          reward=5, overlap=3, seconds_per_task=10,
                          instructions="Read the review and pick its **sentiment**.\n\n"
                                       "- *positive*: the writer is pleased\n"
                                       "- *negative*: the writer is unhappy\n"
                                       "- *neutral*: a plain statement of fact")
    rows = "\n".join(json.dumps({"text": text}) for text, _ in SENTENCES)
    import_upload(requester, text_job, [UploadedFile("reviews.jsonl", rows.encode())], media_root=media_root)

    image_job = create_job(requester, title="Which shape is this?", label_config=IMAGE_CONFIG,
                           reward=3, overlap=3, seconds_per_task=5,
                           instructions="Pick the shape drawn in the picture.")
    # Neutral file names: annotators can see an item's data, so names must not give answers away.
    images = [UploadedFile(f"shape-{3 * n + i + 1:02d}.png", shape_png(shape, seed=10 * n + i))
              for n in range(3) for i, shape in enumerate(SHAPES)]
    import_upload(requester, image_job, images, media_root=media_root)

    audio_job = create_job(requester, title="Low or high tone?", label_config=AUDIO_CONFIG,
                           reward=4, overlap=3, seconds_per_task=8,
                           instructions="Play the clip and say whether the tone is **low** or **high**.")
    tones = [UploadedFile(f"tone-{2 * n + i + 1:02d}.wav", tone_wav(freq * (1 + 0.05 * n)))
             for n in range(3) for i, freq in enumerate(TONES.values())]
    import_upload(requester, audio_job, tones, media_root=media_root)

    for job in (text_job, image_job, audio_job):
        publish_job(requester, job)
    return True
