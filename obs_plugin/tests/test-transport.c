/* The transport parser against a valid stream (fed whole and byte by byte) and each rule of
 * PROTOCOL.md's "What the plugin checks". Exits non-zero on the first failure. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W 16u
#define H 16u
#define RATE 48000u

static int failures;

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                          \
		}                                                            \
	} while (0)

/* -- building messages ------------------------------------------------------------------------ */

struct stream {
	uint8_t *bytes;
	size_t size;
	size_t capacity;
};

static void put(struct stream *s, const void *data, size_t size)
{
	if (s->size + size > s->capacity) {
		s->capacity = (s->size + size) * 2;
		s->bytes = realloc(s->bytes, s->capacity);
		if (!s->bytes)
			abort();
	}
	memcpy(s->bytes + s->size, data, size);
	s->size += size;
}

static void put32(struct stream *s, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	put(s, b, 4);
}

static void put16(struct stream *s, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	put(s, b, 2);
}

static void put64(struct stream *s, uint64_t v)
{
	put32(s, (uint32_t)v);
	put32(s, (uint32_t)(v >> 32));
}

static void header_raw(struct stream *s, uint32_t magic, uint16_t version, uint16_t type,
		       uint32_t payload_size, uint64_t sample)
{
	put32(s, magic);
	put16(s, version);
	put16(s, type);
	put32(s, payload_size);
	put32(s, 0xdeadbeef); /* reserved: ignored */
	put64(s, sample);
	put64(s, 0);
}

static void header(struct stream *s, uint16_t type, uint32_t payload_size, uint64_t sample)
{
	header_raw(s, COHOST_MAGIC, COHOST_VERSION, type, payload_size, sample);
}

static void hello_fields(struct stream *s, uint32_t w, uint32_t h, uint32_t fps_num,
			 uint32_t fps_den, uint32_t rate, uint32_t channels)
{
	header(s, COHOST_HELLO, 32, 0);
	put32(s, w);
	put32(s, h);
	put32(s, fps_num);
	put32(s, fps_den);
	put32(s, rate);
	put32(s, channels);
	put64(s, 1000);
}

static void hello(struct stream *s)
{
	hello_fields(s, W, H, 30, 1, RATE, 1);
}

/* A VIDEO of one colour; padding bytes (stride beyond the row) are 0xEE. */
static void video(struct stream *s, uint32_t format, uint32_t stride, uint64_t sample,
		  uint8_t value)
{
	uint32_t row = W * (format == COHOST_RGBA ? 4u : 3u);
	header(s, COHOST_VIDEO, 16 + stride * H, sample);
	put32(s, format);
	put32(s, W);
	put32(s, H);
	put32(s, stride);
	for (uint32_t y = 0; y < H; y++)
		for (uint32_t x = 0; x < stride; x++) {
			uint8_t b = (uint8_t)(x < row ? value : 0xEE);
			put(s, &b, 1);
		}
}

static void video_info(struct stream *s, uint32_t payload_size, uint32_t format, uint32_t w,
		       uint32_t h, uint32_t stride)
{
	header(s, COHOST_VIDEO, payload_size, 0);
	put32(s, format);
	put32(s, w);
	put32(s, h);
	put32(s, stride);
}

static void audio(struct stream *s, uint32_t samples, uint64_t sample)
{
	header(s, COHOST_AUDIO, samples * 2, sample);
	for (uint32_t i = 0; i < samples; i++)
		put16(s, (uint16_t)(i * 7));
}

/* -- what the parser calls -------------------------------------------------------------------- */

struct seen {
	int hellos;
	struct cohost_hello hello;
	int pictures;
	int audios;
	uint64_t last_sample;
	uint32_t last_linesize;
	enum cohost_pixel_format last_format;
	int pictures_clean; /* pictures whose every byte was the colour sent (no padding kept) */
	uint32_t audio_samples;
	uint16_t second_pcm_sample;
	bool own_repeat; /* the handler has a repeat callback */
	int repeats;
};

static void on_hello(void *opaque, const struct cohost_hello *h)
{
	struct seen *seen = opaque;
	seen->hello = *h;
	seen->hellos++;
}

static void on_picture(void *opaque, const struct cohost_picture *p, uint64_t sample)
{
	struct seen *seen = opaque;
	int clean = 1;
	for (size_t i = 1; i < (size_t)p->linesize * p->height; i++)
		clean &= p->data[i] == p->data[0];
	seen->pictures++;
	seen->pictures_clean += clean;
	seen->last_sample = sample;
	seen->last_linesize = p->linesize;
	seen->last_format = p->format;
}

static void on_audio(void *opaque, const uint8_t *pcm, uint32_t samples, uint64_t sample)
{
	struct seen *seen = opaque;
	seen->second_pcm_sample = (uint16_t)(samples > 1 ? pcm[2] | pcm[3] << 8 : 0);
	seen->audios++;
	seen->audio_samples = samples;
	seen->last_sample = sample;
}

static void on_repeat(void *opaque, uint64_t sample)
{
	struct seen *seen = opaque;
	seen->repeats++;
	seen->last_sample = sample;
}

static enum cohost_feed_result feed(const struct stream *s, struct seen *seen, size_t chunk,
				    struct cohost_parser *parser)
{
	struct cohost_handler handler = {seen, on_hello, on_picture, on_audio,
					 seen->own_repeat ? on_repeat : NULL};
	enum cohost_feed_result result = COHOST_FEED_MORE;
	for (size_t at = 0; at < s->size && result == COHOST_FEED_MORE; at += chunk) {
		size_t size = s->size - at < chunk ? s->size - at : chunk;
		result = cohost_parser_feed(parser, s->bytes + at, size, &handler);
	}
	return result;
}

/* -- the tests -------------------------------------------------------------------------------- */

static void repeat_goes_to_its_own_callback_where_there_is_one(void)
{
	struct stream s = {0};
	struct seen seen = {.own_repeat = true};
	struct cohost_parser parser;

	cohost_parser_init(&parser);
	hello(&s);
	header(&s, COHOST_REPEAT, 0, 10); /* before any VIDEO: still nothing to repeat */
	video(&s, COHOST_BGR, W * 3, 100, 0x42);
	header(&s, COHOST_REPEAT, 0, 1700);
	header(&s, COHOST_BYE, 0, 0);

	CHECK(feed(&s, &seen, s.size, &parser) == COHOST_FEED_BYE);
	CHECK(seen.pictures == 1 && seen.repeats == 1 && seen.last_sample == 1700);
	cohost_parser_reset(&parser);
	free(s.bytes);
}

static void valid_stream_in_chunks(size_t chunk)
{
	struct stream s = {0};
	struct seen seen = {0};
	struct cohost_parser parser;

	cohost_parser_init(&parser);
	hello(&s);
	header(&s, COHOST_REPEAT, 0, 10); /* before any VIDEO: ignored */
	video(&s, COHOST_BGR, W * 3 + 5, 100, 0x42);
	audio(&s, 1600, 100);
	header(&s, COHOST_REPEAT, 0, 1700);
	video(&s, COHOST_RGBA, W * 4, 3300, 0x17);
	header(&s, COHOST_BYE, 0, 0);
	header(&s, 77, 0, 0); /* after BYE: never read */

	CHECK(feed(&s, &seen, chunk, &parser) == COHOST_FEED_BYE);
	CHECK(seen.hellos == 1 && seen.hello.width == W && seen.hello.height == H);
	CHECK(seen.hello.sample_rate == RATE && seen.hello.clock_ns == 1000);
	CHECK(seen.pictures == 3 && seen.pictures_clean == 3);
	CHECK(seen.audios == 1 && seen.audio_samples == 1600 && seen.second_pcm_sample == 7);
	CHECK(seen.last_sample == 3300 && seen.last_linesize == W * 4);
	CHECK(seen.last_format == COHOST_RGBA);
	CHECK(!cohost_parser_mid_message(&parser));
	cohost_parser_reset(&parser);
	free(s.bytes);
}

static void truncation_is_mid_message(void)
{
	struct stream s = {0};
	struct seen seen = {0};
	struct cohost_parser parser;

	cohost_parser_init(&parser);
	hello(&s);
	s.size -= 5;
	CHECK(feed(&s, &seen, s.size, &parser) == COHOST_FEED_MORE);
	CHECK(cohost_parser_mid_message(&parser) && seen.hellos == 0);
	cohost_parser_reset(&parser);
	CHECK(!cohost_parser_mid_message(&parser));
	free(s.bytes);
}

/* Feeds `s` (after a HELLO when `greet`) and expects an error naming `reason`. */
static void rejects(const char *what, struct stream *s, const char *reason)
{
	struct seen seen = {0};
	struct cohost_parser parser;
	enum cohost_feed_result result;

	cohost_parser_init(&parser);
	result = feed(s, &seen, s->size, &parser);
	if (result != COHOST_FEED_ERROR || !strstr(cohost_parser_error(&parser), reason)) {
		fprintf(stderr, "%s: result %d, error \"%s\", want \"%s\"\n", what, (int)result,
			cohost_parser_error(&parser), reason);
		failures++;
	}
	cohost_parser_reset(&parser);
	free(s->bytes);
	*s = (struct stream){0};
}

static void each_rule_is_enforced(void)
{
	struct stream s = {0};

	header_raw(&s, 0x12345678, 1, COHOST_HELLO, 32, 0);
	rejects("wrong magic", &s, "magic");
	header_raw(&s, COHOST_MAGIC, 2, COHOST_HELLO, 32, 0);
	rejects("wrong version", &s, "version");
	header(&s, 0, 0, 0);
	rejects("type 0", &s, "type 0");
	header(&s, 6, 0, 0);
	rejects("type 6", &s, "type 6");
	header(&s, COHOST_HELLO, 0x80000000u, 0);
	rejects("payload 2^31", &s, "over 64 MiB");
	header(&s, COHOST_HELLO, 31, 0);
	rejects("HELLO of 31 bytes", &s, "HELLO payload_size 31");
	hello(&s);
	header(&s, COHOST_REPEAT, 4, 0);
	rejects("REPEAT with a payload", &s, "REPEAT payload_size 4");
	header(&s, COHOST_BYE, 1, 0);
	rejects("BYE with a payload", &s, "BYE payload_size 1");

	hello_fields(&s, 15, H, 30, 1, RATE, 1);
	rejects("width 15", &s, "HELLO size");
	hello_fields(&s, W, 4097, 30, 1, RATE, 1);
	rejects("height 4097", &s, "HELLO size");
	hello_fields(&s, W, H, 0, 1, RATE, 1);
	rejects("fps_num 0", &s, "frame rate");
	hello_fields(&s, W, H, 240001, 1001, RATE, 1);
	rejects("fps_num 240001", &s, "frame rate");
	hello_fields(&s, W, H, 30, 0, RATE, 1);
	rejects("fps_den 0", &s, "frame rate");
	hello_fields(&s, W, H, 30, 1001001, RATE, 1);
	rejects("fps_den 1001001", &s, "frame rate");
	hello_fields(&s, W, H, 241, 1, RATE, 1);
	rejects("241 fps", &s, "frame rate");
	hello_fields(&s, W, H, 30, 1, 7999, 1);
	rejects("7999 Hz", &s, "sample_rate");
	hello_fields(&s, W, H, 30, 1, 192001, 1);
	rejects("192001 Hz", &s, "sample_rate");
	hello_fields(&s, W, H, 30, 1, RATE, 2);
	rejects("stereo", &s, "channels");
	hello(&s);
	hello(&s);
	rejects("a second HELLO", &s, "second HELLO");

	video(&s, COHOST_BGR, W * 3, 0, 1);
	rejects("VIDEO before HELLO", &s, "VIDEO before HELLO");
	header(&s, COHOST_REPEAT, 0, 0);
	rejects("REPEAT before HELLO", &s, "REPEAT before HELLO");
	audio(&s, 10, 0);
	rejects("AUDIO before HELLO", &s, "AUDIO before HELLO");

	hello(&s);
	header(&s, COHOST_VIDEO, 15, 0);
	rejects("VIDEO under 16 bytes", &s, "under 16");
	hello(&s);
	video_info(&s, 16 + W * 3 * H, 3, W, H, W * 3);
	rejects("format 3", &s, "format 3");
	hello(&s);
	video_info(&s, 16 + W * 3 * H, COHOST_BGR, W + 1, H, W * 3);
	rejects("wrong width", &s, "VIDEO size");
	hello(&s);
	video_info(&s, 16 + W * 3 * (H + 1), COHOST_BGR, W, H + 1, W * 3);
	rejects("wrong height", &s, "VIDEO size");
	hello(&s);
	video_info(&s, 16 + (W * 4 - 1) * H, COHOST_RGBA, W, H, W * 4 - 1);
	rejects("stride under the row", &s, "stride");
	hello(&s);
	video_info(&s, 16 + (4 * 4096 + 4) * H, COHOST_RGBA, W, H, 4 * 4096 + 4);
	rejects("stride over 4 x 4096", &s, "stride");
	hello(&s);
	video_info(&s, 16 + W * 3 * H + 1, COHOST_BGR, W, H, W * 3);
	rejects("stride x height mismatch", &s, "not 16 + stride");

	hello(&s);
	header(&s, COHOST_AUDIO, 0, 0);
	rejects("AUDIO empty", &s, "AUDIO payload_size 0");
	hello(&s);
	header(&s, COHOST_AUDIO, 101, 0);
	rejects("AUDIO odd", &s, "AUDIO payload_size 101");
	hello(&s);
	header(&s, COHOST_AUDIO, 2 * RATE + 2, 0);
	rejects("AUDIO over a second", &s, "AUDIO payload_size");
}

static void limits_are_inclusive(void)
{
	struct stream s = {0};
	struct seen seen = {0};
	struct cohost_parser parser;

	cohost_parser_init(&parser);
	hello_fields(&s, 16, 4096, 240000, 1000, 192000, 1);
	header(&s, COHOST_AUDIO, 2 * 192000, 0);
	for (uint32_t i = 0; i < 192000; i++)
		put16(&s, (uint16_t)(i * 7));
	CHECK(feed(&s, &seen, 4096, &parser) == COHOST_FEED_MORE);
	CHECK(seen.hellos == 1 && seen.hello.height == 4096 && seen.hello.fps_num == 240000);
	CHECK(seen.audios == 1 && seen.audio_samples == 192000);
	cohost_parser_reset(&parser);
	free(s.bytes);
}

static void clock_mapping(void)
{
	const uint64_t s = 1000000000ull;
	struct cohost_hello hello = {.sample_rate = 48000, .clock_ns = 500 * s};

	CHECK(cohost_samples_to_ns(48000, 48000) == s);
	CHECK(cohost_samples_to_ns(24000, 48000) == s / 2);
	CHECK(cohost_samples_to_ns(48000ull * 86400 * 365, 48000) == 86400ull * 365 * s);
	/* The engine's clock is OBS's: clock_ns is used as it is. */
	CHECK(cohost_clock_origin(&hello, 48000, 505 * s) == 500 * s);
	/* More than 10 s away, or no clock_ns: the message is mapped to its arrival. */
	CHECK(cohost_clock_origin(&hello, 48000, 512 * s) == 511 * s);
	hello.clock_ns = 0;
	CHECK(cohost_clock_origin(&hello, 96000, 700 * s) == 698 * s);
}

static void first_picture_frame(void)
{
	const uint64_t ms = 1000000ull, frame = 33 * ms, grid = 1000 * ms; /* OBS's last frame at 1 s */

	/* Ahead of time: the frame nearest its timestamp, either side. */
	CHECK(cohost_showing_frame(grid + 40 * ms, grid, grid + 5 * ms, frame) == grid + 33 * ms);
	CHECK(cohost_showing_frame(grid + 60 * ms, grid, grid + 5 * ms, frame) == grid + 66 * ms);
	CHECK(cohost_showing_frame(grid + 66 * ms, grid, grid + 5 * ms, frame) == grid + 66 * ms);
	/* Too soon to hand over half a frame before the nearest one: the one after it. */
	CHECK(cohost_showing_frame(grid + 33 * ms, grid, grid + 20 * ms, frame) == grid + 66 * ms);
	/* Late: the first frame still ahead. */
	CHECK(cohost_showing_frame(grid - 200 * ms, grid, grid + 5 * ms, frame) == grid + 33 * ms);
	/* Either side of the grid's origin. */
	CHECK(cohost_nearest_frame(grid - 40 * ms, grid, frame) == grid - 33 * ms);
	CHECK(cohost_nearest_frame(grid + 10 * ms, grid, frame) == grid);
}

/* Deterministic noise, so that a failure reproduces. */
static uint32_t next_random(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

/* A valid stream with a few bytes changed, fed in random chunks: it ends in an error, a BYE or
 * more wanted, and never touches memory it should not (run under ASan or valgrind to see). */
static void mutated_streams_are_survived(void)
{
	struct stream valid = {0};
	uint32_t state = 12345;

	hello(&valid);
	video(&valid, COHOST_BGR, W * 3 + 2, 100, 0x42);
	audio(&valid, 800, 100);
	header(&valid, COHOST_REPEAT, 0, 900);
	video(&valid, COHOST_RGBA, W * 4, 1700, 0x17);
	for (int round = 0; round < 3000; round++) {
		struct stream s = {0};
		struct seen seen = {0};
		struct cohost_parser parser;
		put(&s, valid.bytes, valid.size);
		for (uint32_t flips = 1 + next_random(&state) % 4; flips > 0; flips--)
			s.bytes[next_random(&state) % s.size] = (uint8_t)next_random(&state);
		cohost_parser_init(&parser);
		feed(&s, &seen, 1 + next_random(&state) % 600, &parser);
		CHECK(seen.hellos <= 1 && seen.pictures <= 3);
		cohost_parser_reset(&parser);
		free(s.bytes);
	}
	free(valid.bytes);
}

int main(void)
{
	valid_stream_in_chunks(1 << 20);
	valid_stream_in_chunks(1);
	valid_stream_in_chunks(7);
	repeat_goes_to_its_own_callback_where_there_is_one();
	truncation_is_mid_message();
	each_rule_is_enforced();
	limits_are_inclusive();
	clock_mapping();
	first_picture_frame();
	mutated_streams_are_survived();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	puts("transport: all checks passed");
	return 0;
}
