#include "transport.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define MAX_FPS 240u

/* Fields are decoded byte by byte: the wire is little-endian whatever the host is, and the bytes
 * sit at any alignment in the parser's buffer. */
static uint16_t le16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static uint64_t le64(const uint8_t *b)
{
	return (uint64_t)le32(b) | ((uint64_t)le32(b + 4) << 32);
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case COHOST_HELLO:
		return "HELLO";
	case COHOST_VIDEO:
		return "VIDEO";
	case COHOST_REPEAT:
		return "REPEAT";
	case COHOST_AUDIO:
		return "AUDIO";
	case COHOST_BYE:
		return "BYE";
	default:
		return "unknown";
	}
}

static uint32_t bytes_per_pixel(uint32_t format)
{
	return format == COHOST_RGBA ? 4u : 3u;
}

static enum cohost_feed_result fail(struct cohost_parser *p, const char *format, ...)
{
	va_list args;
	va_start(args, format);
	vsnprintf(p->error, sizeof(p->error), format, args);
	va_end(args);
	return COHOST_FEED_ERROR;
}

void cohost_parser_init(struct cohost_parser *parser)
{
	memset(parser, 0, sizeof(*parser));
}

void cohost_parser_reset(struct cohost_parser *parser)
{
	free(parser->frame);
	free(parser->pcm);
	cohost_parser_init(parser);
}

bool cohost_parser_mid_message(const struct cohost_parser *parser)
{
	return parser->stage != COHOST_STAGE_HEADER || parser->got > 0;
}

const char *cohost_parser_error(const struct cohost_parser *parser)
{
	return parser->error;
}

uint64_t cohost_samples_to_ns(uint64_t sample, uint32_t sample_rate)
{
	return sample / sample_rate * NS_PER_S + sample % sample_rate * NS_PER_S / sample_rate;
}

uint64_t cohost_clock_origin(const struct cohost_hello *hello, uint64_t sample, uint64_t now_ns)
{
	uint64_t offset = cohost_samples_to_ns(sample, hello->sample_rate);
	uint64_t when = hello->clock_ns + offset;
	uint64_t distance = when > now_ns ? when - now_ns : now_ns - when;
	if (hello->clock_ns != 0 && distance <= COHOST_CLOCK_TOLERANCE_NS)
		return hello->clock_ns;
	return now_ns - offset;
}

uint64_t cohost_nearest_frame(uint64_t when, uint64_t video_time, uint64_t interval)
{
	int64_t step = (int64_t)interval;
	int64_t from_grid = (int64_t)(when - video_time); /* the clocks are one: both near now */
	int64_t nearest = (from_grid >= 0 ? from_grid + step / 2 : from_grid - step / 2) / step;
	return video_time + (uint64_t)(nearest * step);
}

uint64_t cohost_showing_frame(uint64_t timestamp, uint64_t video_time, uint64_t now_ns, uint64_t interval)
{
	uint64_t frame = cohost_nearest_frame(timestamp, video_time, interval);

	while (frame < now_ns + interval / 2)
		frame += interval;
	return frame;
}

/* -- one message's checks, in PROTOCOL.md's order ------------------------------------------------ */

static enum cohost_feed_result check_header(struct cohost_parser *p)
{
	const struct cohost_header *h = &p->header;
	const char *name = type_name(h->type);

	if (h->magic != COHOST_MAGIC)
		return fail(p, "wrong magic 0x%08x (want 0x%08x)", h->magic, COHOST_MAGIC);
	if (h->version != COHOST_VERSION)
		return fail(p, "unsupported version %u (want %u)", h->version, COHOST_VERSION);
	if (h->type < COHOST_HELLO || h->type > COHOST_BYE)
		return fail(p, "unknown message type %u", h->type);
	if (h->payload_size > COHOST_MAX_PAYLOAD)
		return fail(p, "%s payload_size %u over 64 MiB", name, h->payload_size);

	switch (h->type) {
	case COHOST_HELLO:
		if (p->have_hello)
			return fail(p, "a second HELLO on one connection");
		if (h->payload_size != COHOST_HELLO_SIZE)
			return fail(p, "HELLO payload_size %u, not %u", h->payload_size,
				    COHOST_HELLO_SIZE);
		return COHOST_FEED_MORE;
	case COHOST_BYE:
		if (h->payload_size != 0)
			return fail(p, "BYE payload_size %u, not 0", h->payload_size);
		return COHOST_FEED_MORE;
	default:
		break;
	}

	if (!p->have_hello)
		return fail(p, "%s before HELLO", name);
	if (h->type == COHOST_REPEAT && h->payload_size != 0)
		return fail(p, "REPEAT payload_size %u, not 0", h->payload_size);
	if (h->type == COHOST_VIDEO && h->payload_size < COHOST_VIDEO_INFO_SIZE)
		return fail(p, "VIDEO payload_size %u, under %u", h->payload_size,
			    COHOST_VIDEO_INFO_SIZE);
	if (h->type == COHOST_AUDIO) {
		uint32_t most = 2u * p->hello.sample_rate;
		if (h->payload_size % 2 != 0 || h->payload_size < 2 || h->payload_size > most)
			return fail(p, "AUDIO payload_size %u, not an even 2..%u", h->payload_size,
				    most);
	}
	return COHOST_FEED_MORE;
}

static enum cohost_feed_result check_hello(struct cohost_parser *p, const struct cohost_hello *h)
{
	if (h->width < COHOST_MIN_SIDE || h->width > COHOST_MAX_SIDE || h->height < COHOST_MIN_SIDE ||
	    h->height > COHOST_MAX_SIDE)
		return fail(p, "HELLO size %ux%u outside %u..%u", h->width, h->height,
			    COHOST_MIN_SIDE, COHOST_MAX_SIDE);
	if (h->fps_num < 1 || h->fps_num > 240000 || h->fps_den < 1 || h->fps_den > 1001000 ||
	    (uint64_t)h->fps_num > (uint64_t)MAX_FPS * h->fps_den)
		return fail(p, "HELLO frame rate %u/%u outside 1/1001000..240", h->fps_num,
			    h->fps_den);
	if (h->sample_rate < 8000 || h->sample_rate > 192000)
		return fail(p, "HELLO sample_rate %u outside 8000..192000", h->sample_rate);
	if (h->channels != 1)
		return fail(p, "HELLO channels %u, not 1", h->channels);
	return COHOST_FEED_MORE;
}

static enum cohost_feed_result check_video(struct cohost_parser *p, const struct cohost_video_info *v)
{
	const struct cohost_hello *h = &p->hello;
	uint64_t pixels;

	if (v->format != COHOST_RGBA && v->format != COHOST_BGR)
		return fail(p, "VIDEO format %u, not 1 (RGBA) or 2 (BGR)", v->format);
	if (v->width != h->width || v->height != h->height)
		return fail(p, "VIDEO size %ux%u, HELLO said %ux%u", v->width, v->height, h->width,
			    h->height);
	if ((uint64_t)v->stride < (uint64_t)v->width * bytes_per_pixel(v->format) ||
	    v->stride > COHOST_MAX_STRIDE)
		return fail(p, "VIDEO stride %u outside %u..%u", v->stride,
			    v->width * bytes_per_pixel(v->format), COHOST_MAX_STRIDE);
	pixels = (uint64_t)v->stride * v->height;
	if (p->header.payload_size != COHOST_VIDEO_INFO_SIZE + pixels)
		return fail(p, "VIDEO payload_size %u, not 16 + stride %u x height %u",
			    p->header.payload_size, v->stride, v->height);
	return COHOST_FEED_MORE;
}

/* -- the stream -------------------------------------------------------------------------------- */

/* Gathers up to `want` bytes of a fixed-size part into p->fixed; true once it is whole. */
static bool gather(struct cohost_parser *p, size_t want, const uint8_t **data, size_t *size)
{
	size_t take = want - p->got;
	if (take > *size)
		take = *size;
	memcpy(p->fixed + p->got, *data, take);
	p->got += take;
	*data += take;
	*size -= take;
	return p->got == want;
}

static void next_message(struct cohost_parser *p)
{
	p->stage = COHOST_STAGE_HEADER;
	p->got = 0;
}

static enum cohost_feed_result repeat(struct cohost_parser *p, const struct cohost_handler *handler)
{
	/* A REPEAT before any VIDEO of this connection has nothing to repeat. */
	if (p->have_picture && handler->repeat)
		handler->repeat(handler->opaque, p->header.sample);
	else if (p->have_picture)
		handler->picture(handler->opaque, &p->last, p->header.sample);
	next_message(p);
	return COHOST_FEED_MORE;
}

static enum cohost_feed_result header_done(struct cohost_parser *p,
					   const struct cohost_handler *handler)
{
	const uint8_t *b = p->fixed;
	p->header = (struct cohost_header){
		.magic = le32(b),
		.version = le16(b + 4),
		.type = le16(b + 6),
		.payload_size = le32(b + 8),
		.reserved = le32(b + 12),
		.sample = le64(b + 16),
		.sequence = le64(b + 24),
	};
	if (check_header(p) == COHOST_FEED_ERROR)
		return COHOST_FEED_ERROR;

	p->got = 0;
	switch (p->header.type) {
	case COHOST_HELLO:
		p->stage = COHOST_STAGE_HELLO;
		return COHOST_FEED_MORE;
	case COHOST_VIDEO:
		p->stage = COHOST_STAGE_VIDEO_INFO;
		return COHOST_FEED_MORE;
	case COHOST_AUDIO:
		p->stage = COHOST_STAGE_AUDIO;
		return COHOST_FEED_MORE;
	case COHOST_REPEAT:
		return repeat(p, handler);
	default:
		return COHOST_FEED_BYE;
	}
}

static enum cohost_feed_result hello_done(struct cohost_parser *p,
					  const struct cohost_handler *handler)
{
	const uint8_t *b = p->fixed;
	struct cohost_hello hello = {
		.width = le32(b),
		.height = le32(b + 4),
		.fps_num = le32(b + 8),
		.fps_den = le32(b + 12),
		.sample_rate = le32(b + 16),
		.channels = le32(b + 20),
		.clock_ns = le64(b + 24),
	};
	if (check_hello(p, &hello) == COHOST_FEED_ERROR)
		return COHOST_FEED_ERROR;

	/* Sized from checked fields only: at most 4096 x 4096 x 4 and 2 x 192000 bytes. */
	p->frame = malloc((size_t)hello.width * hello.height * 4u);
	p->pcm = malloc((size_t)hello.sample_rate * 2u);
	if (!p->frame || !p->pcm)
		return fail(p, "out of memory for a %ux%u stream", hello.width, hello.height);

	p->hello = hello;
	p->have_hello = true;
	handler->hello(handler->opaque, &p->hello);
	next_message(p);
	return COHOST_FEED_MORE;
}

static enum cohost_feed_result video_info_done(struct cohost_parser *p)
{
	const uint8_t *b = p->fixed;
	struct cohost_video_info info = {
		.format = le32(b),
		.width = le32(b + 4),
		.height = le32(b + 8),
		.stride = le32(b + 12),
	};
	if (check_video(p, &info) == COHOST_FEED_ERROR)
		return COHOST_FEED_ERROR;

	/* The frame buffer is overwritten from here on: until this VIDEO is whole, there is no
	 * picture to repeat (nothing can ask for one before it is whole anyway). */
	p->have_picture = false;
	p->incoming = info;
	p->row = 0;
	p->row_got = 0;
	p->stage = COHOST_STAGE_PIXELS;
	return COHOST_FEED_MORE;
}

/* Copies pixel bytes into the frame buffer row by row, dropping each row's padding. */
static enum cohost_feed_result read_pixels(struct cohost_parser *p, const uint8_t **data,
					   size_t *size, const struct cohost_handler *handler)
{
	const struct cohost_video_info *v = &p->incoming;
	uint32_t linesize = v->width * bytes_per_pixel(v->format);

	while (*size > 0 && p->row < v->height) {
		size_t take = v->stride - p->row_got;
		if (take > *size)
			take = *size;
		if (p->row_got < linesize) {
			size_t keep = linesize - p->row_got;
			if (keep > take)
				keep = take;
			memcpy(p->frame + (size_t)p->row * linesize + p->row_got, *data, keep);
		}
		p->row_got += (uint32_t)take;
		*data += take;
		*size -= take;
		if (p->row_got == v->stride) {
			p->row++;
			p->row_got = 0;
		}
	}
	if (p->row < v->height)
		return COHOST_FEED_MORE;

	p->last = (struct cohost_picture){
		.format = (enum cohost_pixel_format)v->format,
		.width = v->width,
		.height = v->height,
		.linesize = linesize,
		.data = p->frame,
	};
	p->have_picture = true;
	handler->picture(handler->opaque, &p->last, p->header.sample);
	next_message(p);
	return COHOST_FEED_MORE;
}

static enum cohost_feed_result read_audio(struct cohost_parser *p, const uint8_t **data,
					  size_t *size, const struct cohost_handler *handler)
{
	size_t take = p->header.payload_size - p->got;
	if (take > *size)
		take = *size;
	memcpy(p->pcm + p->got, *data, take);
	p->got += take;
	*data += take;
	*size -= take;
	if (p->got < p->header.payload_size)
		return COHOST_FEED_MORE;

	handler->audio(handler->opaque, p->pcm, p->header.payload_size / 2u, p->header.sample);
	next_message(p);
	return COHOST_FEED_MORE;
}

/* One step: uses some of the bytes, completing at most one part of a message. */
static enum cohost_feed_result step(struct cohost_parser *p, const uint8_t **data, size_t *size,
				    const struct cohost_handler *handler)
{
	switch (p->stage) {
	case COHOST_STAGE_HEADER:
		if (!gather(p, COHOST_HEADER_SIZE, data, size))
			return COHOST_FEED_MORE;
		return header_done(p, handler);
	case COHOST_STAGE_HELLO:
		if (!gather(p, COHOST_HELLO_SIZE, data, size))
			return COHOST_FEED_MORE;
		return hello_done(p, handler);
	case COHOST_STAGE_VIDEO_INFO:
		if (!gather(p, COHOST_VIDEO_INFO_SIZE, data, size))
			return COHOST_FEED_MORE;
		return video_info_done(p);
	case COHOST_STAGE_PIXELS:
		return read_pixels(p, data, size, handler);
	case COHOST_STAGE_AUDIO:
		return read_audio(p, data, size, handler);
	}
	return fail(p, "parser in an impossible stage %d", (int)p->stage);
}

enum cohost_feed_result cohost_parser_feed(struct cohost_parser *parser, const uint8_t *data,
					   size_t size, const struct cohost_handler *handler)
{
	while (size > 0) {
		enum cohost_feed_result result = step(parser, &data, &size, handler);
		if (result != COHOST_FEED_MORE)
			return result;
	}
	return COHOST_FEED_MORE;
}
