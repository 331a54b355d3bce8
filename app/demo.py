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


BOX_CONFIG = """<View>
  <Header value="Draw a box around every shape and pick what it is"/>
  <Image name="image" value="$image"/>
  <RectangleLabels name="shapes" toName="image">
    <Label value="circle"/>
    <Label value="square"/>
    <Label value="triangle"/>
  </RectangleLabels>
</View>"""
NER_CONFIG = """<View>
  <Header value="Mark every person and every place"/>
  <Text name="text" value="$text"/>
  <Labels name="entities" toName="text">
    <Label value="PER"/>
    <Label value="LOC"/>
  </Labels>
</View>"""
SEGMENT_CONFIG = """<View>
  <Header value="Mark when each tone sounds"/>
  <Audio name="audio" value="$audio"/>
  <Labels name="tones" toName="audio">
    <Label value="tone"/>
  </Labels>
</View>"""
TRANSCRIBE_CONFIG = """<View>
  <Header value="Type the words shown in the picture"/>
  <Image name="image" value="$image"/>
  <TextArea name="words" toName="image" required="true" rows="2"/>
</View>"""
RATING_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Rating name="helpful" toName="text" maxRating="5"/>
  <TextArea name="comment" toName="text" placeholder="Optional comment"/>
</View>"""
PAIRWISE_CONFIG = """<View>
  <Header value="Which review is more positive?"/>
  <Text name="left" value="$left"/>
  <Text name="right" value="$right"/>
  <Pairwise name="more_positive" toName="left,right"/>
</View>"""
PEOPLE = ("Ada", "Bruno", "Chen Wei", "Dara", "Emeka", "Farah")
PLACES = ("Lisbon", "Nairobi", "Kyoto", "Lima", "Oslo", "Hanoi")
PHRASES = ("the quick brown fox", "seven blue boats", "labels we can trust", "fair pay for good work",
           "a quiet morning walk", "three green apples")


def ner_sentences(n: int = 8, seed: int = 3) -> list[str]:
    """Generated sentences naming a person and a place (the demo's NER items)."""
    rng = np.random.default_rng(seed)
    templates = ("{p} moved to {l} last spring.", "In {l}, {p} opened a small bakery.",
                 "{p} flew from {l} on Monday.", "Yesterday {p} gave a talk in {l}.")
    return [templates[i % len(templates)].format(p=PEOPLE[int(rng.integers(len(PEOPLE)))],
                                                 l=PLACES[int(rng.integers(len(PLACES)))]) for i in range(n)]


def words_png(text: str, seed: int, size: tuple[int, int] = (360, 80)) -> bytes:
    """An image of `text` in Pillow's built-in font (the demo's transcription items)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", size, tuple(int(v) for v in rng.integers(215, 256, 3)))
    draw = ImageDraw.Draw(image)
    draw.text((16, 24), text, fill=tuple(int(v) for v in rng.integers(0, 90, 3)), font_size=28)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def bursts_wav(bursts: list[tuple[float, float]], seconds: float = 4.0, rate: int = 16_000) -> bytes:
    """A WAV of silence with a tone in each (start, end) burst (the demo's segment items)."""
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for start, end in bursts:
        inside = (t >= start) & (t < end)
        fade = np.minimum(1.0, np.minimum(t - start, end - t) / 0.02)
        signal = np.where(inside, 0.4 * np.sin(2 * np.pi * 440 * t) * fade, signal)
    return wav_bytes(signal, rate)


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
    return wav_bytes(0.4 * np.sin(2 * np.pi * frequency * t) * fade, rate)


def wav_bytes(signal: np.ndarray, rate: int) -> bytes:
    """A mono 16-bit WAV of `signal` (floats in [-1, 1])."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((signal * 32767).astype("<i2").tobytes())
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
    credit_requester(requester, 300_000, key="demo-requester")
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

    jobs = [text_job, image_job, audio_job, *_family_jobs(requester, media_root)]
    for job in jobs:
        publish_job(requester, job)
    return True


def _family_jobs(requester: User, media_root) -> list:
    """One job per annotation family beyond choices (issue #10), all with data made here."""
    boxes = create_job(requester, title="Box the shapes", label_config=BOX_CONFIG, reward=8, overlap=3,
                       seconds_per_task=20, instructions="Drag a box around the shape; press its number first.")
    import_upload(requester, boxes, [UploadedFile(f"drawing-{n + 1:02d}.png", shape_png(SHAPES[n % 3], seed=50 + n))
                                     for n in range(6)], media_root=media_root)
    ner = create_job(requester, title="People and places", label_config=NER_CONFIG, reward=8, overlap=3,
                     seconds_per_task=20, instructions="Select a name, then press **1** for a person or **2** "
                                                       "for a place.")
    rows = "\n".join(json.dumps({"text": sentence}) for sentence in ner_sentences())
    import_upload(requester, ner, [UploadedFile("sentences.jsonl", rows.encode())], media_root=media_root)
    segments = create_job(requester, title="When does the tone sound?", label_config=SEGMENT_CONFIG, reward=10,
                          overlap=3, seconds_per_task=25, instructions="Drag across the waveform where you "
                                                                       "hear a tone.")
    rng = np.random.default_rng(7)
    clips = []
    for n in range(4):
        starts = sorted(float(v) for v in rng.uniform(0.2, 3.0, 2))
        bursts = [(round(a, 2), round(min(a + 0.6, 3.9), 2)) for a in starts]
        clips.append(UploadedFile(f"clip-{n + 1:02d}.wav", bursts_wav(bursts)))
    import_upload(requester, segments, clips, media_root=media_root)
    transcribe = create_job(requester, title="Type the words", label_config=TRANSCRIBE_CONFIG, reward=6,
                            overlap=3, seconds_per_task=15, instructions="Type exactly the words you see.")
    import_upload(requester, transcribe, [UploadedFile(f"words-{n + 1:02d}.png", words_png(p, seed=n))
                                          for n, p in enumerate(PHRASES)], media_root=media_root)
    rating = create_job(requester, title="How helpful is this review?", label_config=RATING_CONFIG, reward=4,
                        overlap=3, seconds_per_task=10, instructions="One star: says nothing; five: very useful.")
    rows = "\n".join(json.dumps({"text": text}) for text, _ in SENTENCES[:6])
    import_upload(requester, rating, [UploadedFile("reviews.jsonl", rows.encode())], media_root=media_root)
    pairwise = create_job(requester, title="Which review is more positive?", label_config=PAIRWISE_CONFIG,
                          reward=4, overlap=3, seconds_per_task=10, instructions="Pick the happier review.")
    pairs = [(SENTENCES[i][0], SENTENCES[i + 1][0]) for i in range(0, 12, 2)]
    rows = "\n".join(json.dumps({"left": a, "right": b}) for a, b in pairs)
    import_upload(requester, pairwise, [UploadedFile("pairs.jsonl", rows.encode())], media_root=media_root)
    return [boxes, ner, segments, transcribe, rating, pairwise]
