"""Which decoder reads which file, and that it reads the right frames: tiny PyAV-written
videos (40 distinct frames, 10 fps, 4.0 s) in containers decord opens but reads wrongly
(MPEG-TS, MPEG-PS, AVI with B-frames), rotated videos, and ordinary mkv/webm files.

Each decoded frame is identified by the source frame it is closest to, so a decoder that
reads other frames than the times it reports is caught, not only a wrong shape.
"""
import functools

import numpy as np
import pytest

from gf.extraction import decode

from video_fixtures import frame_image, write_cut_ts, write_trimmed_mp4, write_video

REFS = np.stack([frame_image(i, 64, 48) for i in range(40)]).astype(float)
#: the frames 6 evenly spaced samples of the 4.0 s videos are (read from the mp4)
MP4_FRAMES = [3, 10, 16, 23, 30, 36]


def identify(frames, refs=REFS):
    return [int(np.argmin(np.abs(refs - f.astype(float)).mean(axis=(1, 2, 3)))) for f in frames]


def six(path, decoders=("decord", "pyav")):
    return decode.decode_video(str(path), [("k", None, None)], num_frames=6,
                               opener=functools.partial(decode.open_video, decoders=decoders))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("containers")


@pytest.mark.parametrize("name, fmt, codec", [("f.ts", "mpegts", "libx264"), ("f.mpg", "mpeg", "mpeg2video"),
                                              ("f.avi", "avi", "libx264")])
def test_containers_decord_reads_wrongly_are_read_by_pyav_with_the_right_frames(folder, name, fmt, codec):
    """MPEG-TS: decord read other frames than the times it gave; MPEG-PS: every time 0 and a
    duration of 1e14 s; AVI with B-frames: every time 0 (a 0.0 s video)."""
    got = six(write_video(folder / name, seconds=4.0, container_format=fmt, codec=codec))
    assert got.info["decoder"] == "pyav" and got.info["duration"] == pytest.approx(4.0)
    assert got.samples[0]["times"] == [0.3, 1.0, 1.6, 2.3, 3.0, 3.6]
    assert identify(got.frames) == MP4_FRAMES


@pytest.mark.parametrize("name, fmt, codec", [("t.mpg", "mpeg", "mpeg2video"), ("t.avi", "avi", "libx264")])
def test_decords_timestamps_that_do_not_increase_are_refused(folder, name, fmt, codec):
    path = write_video(folder / name, seconds=1.0, container_format=fmt, codec=codec)
    with pytest.raises(decode.DecodeFailure, match="frame timestamps do not increase"):
        decode._DecordReader(str(path))


def test_a_video_without_duration_is_a_video_failure_not_a_windows():
    class Empty(decode.VideoReader):
        decoder, frame_times, duration, fps = "fake", np.zeros(3), 0.0, 10.0

    with pytest.raises(decode.DecodeFailure, match=r"the decoder reports a duration of 0\.0 s"):
        decode.decode_video("x.mp4", [("k", None, None)], num_frames=2, opener=lambda path, deadline: Empty())
    got = decode.decode_video("x.mp4", [("q", 0.0, 1.0)], num_frames=2, opener=lambda path, deadline: Empty())
    assert "duration of 0.0 s" in got.samples[0]["error"]  # a question's window fails alone, as before


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_a_rotated_video_is_read_upright_by_pyav(folder, rotation):
    """The display matrix is applied (as players show the video); decord, which turns only
    some angles upright and fails on others, is not used for it."""
    path = write_video(folder / f"rot{rotation}.mp4", seconds=4.0, rotation=rotation)
    got = six(path)
    turned = np.stack([np.rot90(r, k=rotation // 90) for r in REFS])
    assert got.info["decoder"] == "pyav" and got.frames.shape[1:3] == turned.shape[1:3]
    assert identify(got.frames, turned) == MP4_FRAMES
    if rotation == 180:  # decord turns this angle itself: both readers agree
        assert np.abs(six(path, ("decord",)).frames.astype(int) - got.frames.astype(int)).mean() < 3


@pytest.mark.parametrize("name, fmt, codec", [("o.mkv", "matroska", "libx264"), ("o.webm", "webm", "libvpx-vp9")])
def test_ordinary_files_stay_with_decord_and_agree_with_pyav(folder, name, fmt, codec):
    path = write_video(folder / name, seconds=4.0, container_format=fmt, codec=codec)
    by_decord, by_pyav = six(path), six(path, ("pyav",))
    assert by_decord.info["decoder"] == "decord" and by_decord.info["duration"] == by_pyav.info["duration"] == 4.0
    assert identify(by_decord.frames) == identify(by_pyav.frames) == MP4_FRAMES


@pytest.mark.parametrize("num_frames", [3, 30])
def test_an_mp4_whose_edit_list_hides_frames_is_read_as_a_player_shows_it(folder, num_frames):
    """``ffmpeg -ss 0.5 -c copy``: decord read the 5 hidden frames too (times from -0.5 s,
    a 3.0 s video) and which frame an index gave depended on the batch; now PyAV reads the
    25 shown frames, each at its own time, whatever the number of frames asked for."""
    path = write_trimmed_mp4(folder / "trim.mp4", write_video(folder / "trim_src.mp4", seconds=3.0), hide=5)
    with pytest.raises(decode.DecodeFailure, match="before the start"):
        decode._DecordReader(str(path))
    got = decode.decode_video(str(path), [("k", None, None)], num_frames=num_frames)
    assert got.info["decoder"] == "pyav" and got.info["duration"] == 2.5 and got.info["video_frames"] == 25
    sample = got.samples[0]
    refs = np.stack([frame_image(i, 64, 48) for i in range(30)]).astype(float)
    shown = identify(got.frames[sample["rows"]["frames"]], refs)
    assert shown == [5 + round(t * 10) for t in sample["times"]] and max(sample["times"]) <= 2.4


def test_frames_the_decoder_drops_do_not_shift_the_frames_after_them(folder):
    """An open-GOP MPEG-TS cut at a keyframe: 59 packets, 57 frames. Times came from the
    packets and frames by decode position, so each frame was 0.2 s later than its time and
    sampling near the end failed; now both come from the frames decoded."""
    path = write_cut_ts(folder / "cut.ts")
    reader = decode.open_video(str(path))
    assert reader.decoder == "pyav" and len(reader.frame_times) == 57
    refs = np.stack([frame_image(i, 64, 48) for i in range(60)]).astype(float)
    first = identify(reader.read([0], decode.Deadline(None)), refs)[0]
    got = decode.decode_video(str(path), [("k", None, None)], num_frames=32)
    sample = got.samples[0]
    shown = identify(got.frames[sample["rows"]["frames"]], refs)
    off = [s - (first + round(t * 10)) for s, t in zip(shown, sample["times"])]
    assert max(map(abs, off)) <= 1 and off.count(0) >= 28  # MPEG-2 blurs a few frames into a neighbour


def test_the_time_limit_holds_while_pyav_reads_every_frames_time_to_open_a_video(folder, monkeypatch):
    """PyAV opens a file by decoding every frame (its true frame times): a long video must
    not overrun the per-video limit in that pass, and the timeout is the video's failure,
    not a reason to try another decoder."""
    path = write_video(folder / "long.mpg", seconds=4.0, container_format="mpeg", codec="mpeg2video")
    seen = []
    real = decode._frame_pts
    monkeypatch.setattr(decode, "_frame_pts", lambda frame: seen.append(1) or real(frame))
    expired = decode.Deadline(1e-9)
    with pytest.raises(decode.DecodeFailure, match=r"^timed out: .* while opening the file \(reading every frame"):
        decode.decode_video(str(path), [("k", None, None)], num_frames=2, deadline=expired)
    assert len(seen) == decode.CHUNK  # stopped at the first check, not after the whole video
