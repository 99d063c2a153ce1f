/* The engine -> OBS wire format (PROTOCOL.md, version 1): an incremental parser that checks every
 * field before it is used. No libobs here, so that the parser is unit-tested on its own and any
 * byte stream a peer can send is exercised without OBS. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COHOST_MAGIC 0x31484F43u /* the bytes "COH1" */
#define COHOST_VERSION 1u
#define COHOST_HEADER_SIZE 32u
#define COHOST_HELLO_SIZE 32u
#define COHOST_VIDEO_INFO_SIZE 16u
#define COHOST_MAX_PAYLOAD (64u * 1024u * 1024u)
#define COHOST_MIN_SIDE 16u
#define COHOST_MAX_SIDE 4096u
#define COHOST_MAX_STRIDE (4u * 4096u)
/* A clock_ns further than this from OBS's clock belongs to another clock. */
#define COHOST_CLOCK_TOLERANCE_NS 10000000000ull

enum cohost_type {
	COHOST_HELLO = 1,
	COHOST_VIDEO = 2,
	COHOST_REPEAT = 3,
	COHOST_AUDIO = 4,
	COHOST_BYE = 5,
};

enum cohost_pixel_format {
	COHOST_RGBA = 1,
	COHOST_BGR = 2,
};

struct cohost_header {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t payload_size;
	uint32_t reserved;
	uint64_t sample;
	uint64_t sequence;
};

struct cohost_hello {
	uint32_t width;
	uint32_t height;
	uint32_t fps_num;
	uint32_t fps_den;
	uint32_t sample_rate;
	uint32_t channels;
	uint64_t clock_ns;
};

struct cohost_video_info {
	uint32_t format;
	uint32_t width;
	uint32_t height;
	uint32_t stride;
};

/* A whole picture, rows packed (linesize = width * bytes per pixel), top row first. */
struct cohost_picture {
	enum cohost_pixel_format format;
	uint32_t width;
	uint32_t height;
	uint32_t linesize;
	const uint8_t *data;
};

/* What a parsed stream does; called from cohost_parser_feed as each message completes. The data
 * passed in is the parser's and valid only during the call. */
struct cohost_handler {
	void *opaque;
	void (*hello)(void *opaque, const struct cohost_hello *hello);
	/* VIDEO, and REPEAT of the last VIDEO's picture */
	void (*picture)(void *opaque, const struct cohost_picture *picture, uint64_t sample);
	/* little-endian int16 mono PCM, `samples` of it; the first is at `sample` */
	void (*audio)(void *opaque, const uint8_t *pcm, uint32_t samples, uint64_t sample);
	/* REPEAT, for a handler that keeps showing the last picture anyway; NULL: `picture` gets it */
	void (*repeat)(void *opaque, uint64_t sample);
};

enum cohost_feed_result {
	COHOST_FEED_MORE,  /* all bytes used; send more */
	COHOST_FEED_BYE,   /* the engine stops on purpose; bytes after the BYE are not read */
	COHOST_FEED_ERROR, /* the stream broke a rule: cohost_parser_error() says which */
};

enum cohost_stage {
	COHOST_STAGE_HEADER,
	COHOST_STAGE_HELLO,
	COHOST_STAGE_VIDEO_INFO,
	COHOST_STAGE_PIXELS,
	COHOST_STAGE_AUDIO,
};

/* One connection's parser. Its buffers are sized from the HELLO and freed by reset. */
struct cohost_parser {
	enum cohost_stage stage;
	uint8_t fixed[COHOST_HEADER_SIZE]; /* header, HELLO or VIDEO info bytes gathered so far */
	size_t got;                        /* bytes of the current part gathered */
	struct cohost_header header;

	bool have_hello;
	struct cohost_hello hello;

	struct cohost_video_info incoming; /* the VIDEO being read */
	uint32_t row;                      /* its pixel row being read */
	uint32_t row_got;                  /* bytes of that row (stride, padding included) read */

	bool have_picture; /* the frame buffer holds a whole picture, `last` */
	struct cohost_picture last;

	uint8_t *frame; /* width * height * 4 bytes, from HELLO */
	uint8_t *pcm;   /* one second of mono int16, from HELLO */

	char error[192];
};

void cohost_parser_init(struct cohost_parser *parser);
/* Forgets the connection (a new one starts with a HELLO) and frees its buffers. */
void cohost_parser_reset(struct cohost_parser *parser);
enum cohost_feed_result cohost_parser_feed(struct cohost_parser *parser, const uint8_t *data,
					   size_t size, const struct cohost_handler *handler);
/* Whether the bytes so far end inside a message (a close now truncates it). */
bool cohost_parser_mid_message(const struct cohost_parser *parser);
const char *cohost_parser_error(const struct cohost_parser *parser);

/* sample * 1e9 / sample_rate without overflowing for any realistic sample; sample_rate > 0. */
uint64_t cohost_samples_to_ns(uint64_t sample, uint32_t sample_rate);
/* The OBS time (ns) of sample 0, decided on a connection's first timed message (`sample`, arriving
 * at `now_ns`): HELLO's clock_ns, unless it is 0 or puts that message more than 10 s from now_ns
 * (another clock), in which case that message is mapped to its arrival time. */
uint64_t cohost_clock_origin(const struct cohost_hello *hello, uint64_t sample, uint64_t now_ns);
/* Of OBS's frames (`video_time` plus or minus whole `interval`s), the one nearest `when`. */
uint64_t cohost_nearest_frame(uint64_t when, uint64_t video_time, uint64_t interval);
/* The OBS frame that is to show a connection's first paced picture, stamped `timestamp`: the one
 * nearest the timestamp, but no sooner than half an interval after `now_ns` (a picture is handed
 * over half a frame before the frame that shows it, when OBS's previous frame is done with its
 * sources and the next has not begun). */
uint64_t cohost_showing_frame(uint64_t timestamp, uint64_t video_time, uint64_t now_ns, uint64_t interval);
