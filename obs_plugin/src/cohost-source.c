/* The "Co-host (obs-cohost)" source: a reader thread per source connects to the engine's socket,
 * parses the stream (transport.c) and hands OBS the pictures and sound with their timestamps.
 * OBS's own threads only ever take a short lock and write a byte to the wake pipe. */
#include "cohost-source.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <obs-module.h>
#include <util/bmem.h>
#include <util/dstr.h>
#include <util/platform.h>
#include <util/threading.h>

#include "presenter.h"
#include "transport.h"
#include "unix-socket.h"

#define S_SOCKET "socket"
#define S_BUFFER_MS "buffer_ms"
#define S_KEEP_LAST_FRAME "keep_last_frame"

#define RETRY_MS 500         /* no engine there (yet), or it went away */
#define AFTER_ERROR_MS 1000  /* the engine broke the protocol */
#define READ_BUFFER (256 * 1024)
#define MAX_BUFFER_MS 500
/* A new connection's pictures shown at once, as they come, while none arrives in time to be paced
 * from: then the next is paced from whatever its time (the engine is slow to catch up). */
#define LATE_PICTURES_BEFORE_PACING 30
#define HOLD_SOUND_S 2 /* sound kept back until the pictures are paced (at most) */

struct cohost_source {
	obs_source_t *source;
	pthread_t thread;
	bool thread_started;
	int wake[2]; /* [0] polled by the reader, [1] written by OBS's threads */
	struct cohost_presenter presenter;

	pthread_mutex_t lock; /* guards socket_path and path_changed */
	char *socket_path;
	bool path_changed;

	volatile long buffer_ms;
	volatile bool keep_last_frame;
	volatile bool stopping;
};

/* The reader thread's own state, never touched by OBS's threads. */
struct reader {
	struct cohost_source *ctx;
	struct cohost_parser parser;
	uint8_t *buffer;
	char *path;
	bool greeted; /* this connection's HELLO arrived */
	bool paced;   /* this connection's pictures are placed on OBS's frames (pace_from) */
	int late_pictures;
	bool clock_mapped;
	uint64_t origin_ns;
	/* Added to the sound's timestamps and the pictures' times: how much later than its own time
	 * the picture paced from is seen on OBS's frames. Until then the sound waits in `held`. */
	int64_t sound_shift_ns;
	uint8_t *held;
	size_t held_bytes;
	uint64_t held_sample; /* the first held sample */
	int logged_connect_error; /* not logged again until it changes or a connection works */
	char reason[256];
};

enum outcome {
	ENGINE_GONE,   /* closed between messages: the engine died or restarts */
	ENGINE_BYE,    /* the engine stops on purpose */
	ENGINE_BROKE,  /* a protocol violation or a read error: reader.reason says which */
	READER_WOKEN,  /* the source is going away or its socket changed */
};

/* -- settings --------------------------------------------------------------------------------- */

static char *socket_path_from(obs_data_t *settings)
{
	const char *chosen = obs_data_get_string(settings, S_SOCKET);
	const char *runtime_dir = getenv("XDG_RUNTIME_DIR");
	struct dstr path = {0};

	if (chosen && *chosen)
		dstr_copy(&path, chosen);
	else if (runtime_dir && *runtime_dir)
		dstr_printf(&path, "%s/obs-cohost.sock", runtime_dir);
	else
		dstr_printf(&path, "/tmp/obs-cohost-%u.sock", (unsigned)getuid());
	return path.array;
}

static void cohost_update(void *data, obs_data_t *settings)
{
	struct cohost_source *ctx = data;
	char *path = socket_path_from(settings);
	long buffer_ms = (long)obs_data_get_int(settings, S_BUFFER_MS);
	bool changed;

	if (buffer_ms < 0)
		buffer_ms = 0;
	if (buffer_ms > MAX_BUFFER_MS)
		buffer_ms = MAX_BUFFER_MS;
	os_atomic_set_long(&ctx->buffer_ms, buffer_ms);
	os_atomic_set_bool(&ctx->keep_last_frame, obs_data_get_bool(settings, S_KEEP_LAST_FRAME));

	pthread_mutex_lock(&ctx->lock);
	changed = !ctx->socket_path || strcmp(ctx->socket_path, path) != 0;
	if (changed) {
		bfree(ctx->socket_path);
		ctx->socket_path = path;
		ctx->path_changed = true;
		path = NULL;
	}
	pthread_mutex_unlock(&ctx->lock);
	bfree(path);

	if (changed)
		cohost_wake_pipe_signal(ctx->wake[1]);
}

static char *take_socket_path(struct cohost_source *ctx)
{
	char *path;
	pthread_mutex_lock(&ctx->lock);
	path = bstrdup(ctx->socket_path);
	ctx->path_changed = false;
	pthread_mutex_unlock(&ctx->lock);
	return path;
}

static bool path_changed(struct cohost_source *ctx)
{
	bool changed;
	pthread_mutex_lock(&ctx->lock);
	changed = ctx->path_changed;
	pthread_mutex_unlock(&ctx->lock);
	return changed;
}

static bool stopping(struct cohost_source *ctx)
{
	return os_atomic_load_bool(&ctx->stopping);
}

/* -- what the stream does (called by the parser on the reader thread) -------------------------- */

static uint64_t timestamp_ns(struct reader *r, uint64_t sample)
{
	const struct cohost_hello *hello = &r->parser.hello;
	uint64_t buffer_ns = (uint64_t)os_atomic_load_long(&r->ctx->buffer_ms) * 1000000ull;

	if (!r->clock_mapped) {
		r->origin_ns = cohost_clock_origin(hello, sample, os_gettime_ns());
		r->clock_mapped = true;
	}
	return r->origin_ns + cohost_samples_to_ns(sample, hello->sample_rate) + buffer_ns;
}

static void on_hello(void *opaque, const struct cohost_hello *hello)
{
	struct reader *r = opaque;
	r->greeted = true;
	blog(LOG_INFO, "[obs-cohost] connected to the engine at %s: %ux%u, %u/%u fps, %u Hz", r->path,
	     hello->width, hello->height, hello->fps_num, hello->fps_den, hello->sample_rate);
}

static void output_sound(struct reader *r, const uint8_t *pcm, uint32_t samples, uint64_t sample)
{
	/* The wire's little-endian int16 is OBS's AUDIO_FORMAT_16BIT on every platform OBS runs on. */
	struct obs_source_audio audio = {
		.data = {pcm},
		.frames = samples,
		.speakers = SPEAKERS_MONO,
		.format = AUDIO_FORMAT_16BIT,
		.samples_per_sec = r->parser.hello.sample_rate,
		.timestamp = (uint64_t)((int64_t)timestamp_ns(r, sample) + r->sound_shift_ns),
	};
	obs_source_output_audio(r->ctx->source, &audio);
}

static void release_held_sound(struct reader *r)
{
	if (r->held_bytes)
		output_sound(r, r->held, (uint32_t)(r->held_bytes / 2), r->held_sample);
	r->held_bytes = 0;
}

/* A connection's pictures are seen at their time moved onto OBS's frames: the first in time (or,
 * while none comes in time, the LATE_PICTURES_BEFORE_PACING-th) at the OBS frame nearest its time,
 * and each later one as many frames after as its time says. The sound is shifted by the same
 * amount, so that the two stay together to the sample however OBS's frames fall. Pictures that
 * come late before that are shown at once, their sound held back. */
static void pace_from(struct reader *r, const struct obs_source_frame *frame)
{
	uint64_t interval = cohost_obs_frame_interval();
	uint64_t shown = cohost_showing_frame(frame->timestamp, obs_get_video_frame_time(), os_gettime_ns(), interval);

	r->sound_shift_ns = (int64_t)(shown - frame->timestamp);
	r->paced = true;
	blog(LOG_INFO, "[obs-cohost] pictures paced on OBS's frames, %.1f ms from their time (the sound "
	     "follows them), after %d late ones", (double)r->sound_shift_ns / 1e6, r->late_pictures);
	release_held_sound(r);
}

static void on_picture(void *opaque, const struct cohost_picture *picture, uint64_t sample)
{
	struct reader *r = opaque;
	struct obs_source_frame frame = {
		/* OBS copies the pixels before obs_source_output_video returns. */
		.data = {(uint8_t *)picture->data},
		.linesize = {picture->linesize},
		.width = picture->width,
		.height = picture->height,
		.format = picture->format == COHOST_RGBA ? VIDEO_FORMAT_RGBA : VIDEO_FORMAT_BGR3,
		.full_range = true,
		.timestamp = timestamp_ns(r, sample),
	};
	video_format_get_parameters_for_format(VIDEO_CS_SRGB, VIDEO_RANGE_FULL, frame.format,
					       frame.color_matrix, frame.color_range_min,
					       frame.color_range_max);
	/* Paced from one that comes half a frame ahead or more: the OBS frame nearest its time is then
	 * still to come (one that came later would be seen up to 1.5 frames after its time, for good). */
	if (!r->paced && frame.timestamp < os_gettime_ns() + cohost_obs_frame_interval() / 2 &&
	    r->late_pictures < LATE_PICTURES_BEFORE_PACING) {
		r->late_pictures++;
		obs_source_output_video(r->ctx->source, &frame); /* unbuffered: seen at OBS's next frame */
		return;
	}
	if (!r->paced)
		pace_from(r, &frame);
	cohost_presenter_queue(&r->ctx->presenter, &frame, (uint64_t)((int64_t)frame.timestamp + r->sound_shift_ns));
}

/* Once paced, OBS shows the last picture until the next one; before, a repeat may be in time to
 * pace from. */
static void on_repeat(void *opaque, uint64_t sample)
{
	struct reader *r = opaque;
	if (!r->paced)
		on_picture(opaque, &r->parser.last, sample);
}

static void on_audio(void *opaque, const uint8_t *pcm, uint32_t samples, uint64_t sample)
{
	struct reader *r = opaque;
	size_t bytes = (size_t)samples * 2;
	size_t room = (size_t)r->parser.hello.sample_rate * 2 * HOLD_SOUND_S;

	if (r->paced) {
		output_sound(r, pcm, samples, sample);
		return;
	}
	if (!r->held)
		r->held = bmalloc(room);
	if (r->held_bytes + bytes > room) /* no picture for that long: the sound goes unshifted */
		release_held_sound(r);
	if (bytes > room) {
		output_sound(r, pcm, samples, sample);
		return;
	}
	if (!r->held_bytes)
		r->held_sample = sample;
	memcpy(r->held + r->held_bytes, pcm, bytes);
	r->held_bytes += bytes;
}

/* -- one connection --------------------------------------------------------------------------- */

static enum outcome broke(struct reader *r, const char *what, const char *detail)
{
	snprintf(r->reason, sizeof(r->reason), "%s%s", what, detail);
	return ENGINE_BROKE;
}

/* Reads what arrived; false once the connection is over (*outcome says how). */
static bool read_some(struct reader *r, int fd, enum outcome *outcome)
{
	const struct cohost_handler handler = {
		.opaque = r,
		.hello = on_hello,
		.picture = on_picture,
		.audio = on_audio,
		.repeat = on_repeat,
	};
	ssize_t got = recv(fd, r->buffer, READ_BUFFER, 0);

	if (got < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		*outcome = broke(r, "read failed: ", strerror(errno));
		return false;
	}
	if (got == 0) {
		*outcome = cohost_parser_mid_message(&r->parser)
				   ? broke(r, "the engine closed the connection mid-message", "")
				   : ENGINE_GONE;
		return false;
	}
	switch (cohost_parser_feed(&r->parser, r->buffer, (size_t)got, &handler)) {
	case COHOST_FEED_MORE:
		return true;
	case COHOST_FEED_BYE:
		*outcome = ENGINE_BYE;
		return false;
	case COHOST_FEED_ERROR:
		break;
	}
	*outcome = broke(r, "", cohost_parser_error(&r->parser));
	return false;
}

/* Waits on the socket and the wake pipe only: a stalled or silent engine costs OBS nothing. */
static enum outcome read_connection(struct reader *r, int fd)
{
	enum outcome outcome = ENGINE_GONE;

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = fd, .events = POLLIN},
			{.fd = r->ctx->wake[0], .events = POLLIN},
		};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return broke(r, "poll failed: ", strerror(errno));
		}
		if (fds[1].revents) {
			cohost_wake_pipe_drain(r->ctx->wake[0]);
			if (stopping(r->ctx) || path_changed(r->ctx))
				return READER_WOKEN;
		}
		if (fds[0].revents && !read_some(r, fd, &outcome))
			return outcome;
	}
}

static void forget_connection(struct reader *r)
{
	cohost_parser_reset(&r->parser);
	r->greeted = false;
	r->paced = false;
	r->late_pictures = 0;
	r->clock_mapped = false;
	r->sound_shift_ns = 0;
	r->held_bytes = 0;
	cohost_presenter_clear(&r->ctx->presenter);
	if (!os_atomic_load_bool(&r->ctx->keep_last_frame))
		obs_source_output_video(r->ctx->source, NULL);
}

static void note_connect_error(struct reader *r, int error)
{
	if (cohost_connect_error_is_absence(error) || error == r->logged_connect_error)
		return;
	r->logged_connect_error = error;
	blog(LOG_WARNING, "[obs-cohost] cannot connect to %s: %s (retrying every %d ms)", r->path,
	     error == ENAMETOOLONG ? "the path is too long for a Unix socket" : strerror(error),
	     RETRY_MS);
}

/* Connects once and reads until the connection ends; returns how long to wait before the next. */
static int serve_once(struct reader *r)
{
	int error = 0;
	int fd = cohost_connect(r->path, &error);
	enum outcome outcome;
	bool greeted;

	if (fd < 0) {
		note_connect_error(r, error);
		return RETRY_MS;
	}
	r->logged_connect_error = 0;
	outcome = read_connection(r, fd);
	shutdown(fd, SHUT_RDWR);
	close(fd);
	greeted = r->greeted;
	forget_connection(r);

	switch (outcome) {
	case ENGINE_BROKE:
		blog(LOG_WARNING, "[obs-cohost] dropped the engine at %s: %s; reconnecting in %d ms",
		     r->path, r->reason, AFTER_ERROR_MS);
		return AFTER_ERROR_MS;
	case ENGINE_GONE:
	case ENGINE_BYE:
		if (greeted)
			blog(LOG_INFO, "[obs-cohost] lost the engine at %s (%s); reconnecting",
			     r->path, outcome == ENGINE_BYE ? "it stopped" : "connection closed");
		return RETRY_MS;
	case READER_WOKEN:
		break;
	}
	return 0;
}

static void *reader_main(void *data)
{
	struct reader r = {.ctx = data};

	os_set_thread_name("obs-cohost"); /* 15 characters at most on Linux */
	cohost_parser_init(&r.parser);
	r.buffer = bmalloc(READ_BUFFER);

	while (!stopping(r.ctx)) {
		char *path = take_socket_path(r.ctx);
		int wait_ms;

		if (r.path && strcmp(r.path, path) != 0)
			r.logged_connect_error = 0;
		bfree(r.path);
		r.path = path;
		wait_ms = serve_once(&r);
		if (wait_ms > 0 && !stopping(r.ctx) && !path_changed(r.ctx))
			cohost_wake_pipe_wait(r.ctx->wake[0], wait_ms);
	}

	bfree(r.path);
	bfree(r.buffer);
	bfree(r.held);
	cohost_parser_reset(&r.parser);
	return NULL;
}

/* -- the source ------------------------------------------------------------------------------- */

static const char *cohost_get_name(void *type_data)
{
	UNUSED_PARAMETER(type_data);
	return obs_module_text("CohostSource");
}

static void cohost_destroy(void *data)
{
	struct cohost_source *ctx = data;

	/* The reader only ever waits in poll() on the wake pipe, so it ends at once. */
	os_atomic_set_bool(&ctx->stopping, true);
	cohost_wake_pipe_signal(ctx->wake[1]);
	if (ctx->thread_started)
		pthread_join(ctx->thread, NULL);
	cohost_presenter_stop(&ctx->presenter);
	cohost_wake_pipe_close(ctx->wake);
	pthread_mutex_destroy(&ctx->lock);
	bfree(ctx->socket_path);
	bfree(ctx);
}

static void *cohost_create(obs_data_t *settings, obs_source_t *source)
{
	struct cohost_source *ctx = bzalloc(sizeof(*ctx));
	ctx->source = source;

	if (!cohost_wake_pipe_open(ctx->wake)) {
		blog(LOG_ERROR, "[obs-cohost] cannot create a wake pipe: %s", strerror(errno));
		bfree(ctx);
		return NULL;
	}
	pthread_mutex_init(&ctx->lock, NULL);
	cohost_update(ctx, settings);
	obs_source_set_async_unbuffered(source, true);
	if (!cohost_presenter_start(&ctx->presenter, source))
		blog(LOG_ERROR, "[obs-cohost] cannot start the presenter thread: no pictures will show");

	ctx->thread_started = pthread_create(&ctx->thread, NULL, reader_main, ctx) == 0;
	if (!ctx->thread_started)
		blog(LOG_ERROR, "[obs-cohost] cannot start the reader thread");
	return ctx;
}

static void cohost_get_defaults(obs_data_t *settings)
{
	obs_data_set_default_string(settings, S_SOCKET, "");
	obs_data_set_default_int(settings, S_BUFFER_MS, 40);
	obs_data_set_default_bool(settings, S_KEEP_LAST_FRAME, true);
}

static obs_properties_t *cohost_get_properties(void *data)
{
	obs_properties_t *props = obs_properties_create();
	obs_property_t *socket_path =
		obs_properties_add_text(props, S_SOCKET, obs_module_text("Socket"), OBS_TEXT_DEFAULT);
	obs_property_t *buffer = obs_properties_add_int(props, S_BUFFER_MS,
							obs_module_text("BufferMs"), 0,
							MAX_BUFFER_MS, 10);

	UNUSED_PARAMETER(data);
	obs_property_set_long_description(socket_path, obs_module_text("Socket.Description"));
	obs_property_int_set_suffix(buffer, " ms");
	obs_property_set_long_description(buffer, obs_module_text("BufferMs.Description"));
	obs_properties_add_bool(props, S_KEEP_LAST_FRAME, obs_module_text("KeepLastFrame"));
	return props;
}

static struct obs_source_info cohost_source_info = {
	.id = "cohost_source",
	.type = OBS_SOURCE_TYPE_INPUT,
	.output_flags = OBS_SOURCE_ASYNC_VIDEO | OBS_SOURCE_AUDIO | OBS_SOURCE_DO_NOT_DUPLICATE,
	.get_name = cohost_get_name,
	.create = cohost_create,
	.destroy = cohost_destroy,
	.update = cohost_update,
	.get_defaults = cohost_get_defaults,
	.get_properties = cohost_get_properties,
	.icon_type = OBS_ICON_TYPE_MEDIA,
};

void cohost_register_source(void)
{
	obs_register_source(&cohost_source_info);
}
