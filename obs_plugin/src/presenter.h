/* Hands a source's pictures to OBS, each in the middle of the OBS frame before the one that is to
 * show it. The source runs unbuffered (OBS shows, at each of its frames, the latest picture it was
 * given), so the pace is set here by the clock, picture by picture. OBS's own buffered pacing
 * counts its frames from the first picture it took and stops counting while it has none waiting:
 * one picture that came late left every later one shown a frame later, for good. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <obs-module.h>
#include <util/threading.h>

/* Pictures waiting for their frame; the engine sends each about 40 ms ahead, so a full queue means
 * OBS's time and the engine's disagree: the oldest is dropped. */
#define COHOST_PRESENT_SLOTS 4

struct cohost_waiting_picture {
	uint8_t *data;
	size_t capacity;
	struct obs_source_frame frame;
	uint64_t show_at; /* when it is to be seen (its OBS frame is the nearest) */
};

struct cohost_presenter {
	obs_source_t *source;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards what follows */
	os_event_t *changed;  /* a picture came, the queue was cleared, or stopping */
	struct cohost_waiting_picture slots[COHOST_PRESENT_SLOTS];
	size_t first;
	size_t count;
	bool stopping;
	/* The picture being handed to OBS, swapped out of its slot: OBS may wait for its render to
	 * finish (a software renderer takes long), and the reader must not wait on that. */
	uint8_t *showing;
	size_t showing_capacity;
};

bool cohost_presenter_start(struct cohost_presenter *p, obs_source_t *source);
void cohost_presenter_stop(struct cohost_presenter *p);
/* Copies `frame` (one plane) to be seen at the OBS frame nearest `show_at`: handed over half a
 * frame before it, or at once when that is past. */
void cohost_presenter_queue(struct cohost_presenter *p, const struct obs_source_frame *frame, uint64_t show_at);
/* Forgets the pictures waiting (the connection ended). */
void cohost_presenter_clear(struct cohost_presenter *p);
/* OBS's frame interval in ns. */
uint64_t cohost_obs_frame_interval(void);
