#include "presenter.h"

#include <string.h>

#include <util/bmem.h>
#include <util/platform.h>

#include "transport.h"

/* Longest sleep before the queue is looked at again (a picture stamped far ahead, another clock). */
#define MAX_WAIT_MS 100

uint64_t cohost_obs_frame_interval(void)
{
	struct obs_video_info ovi;
	if (obs_get_video_info(&ovi) && ovi.fps_num)
		return 1000000000ull * ovi.fps_den / ovi.fps_num;
	return 1000000000ull / 30;
}

/* When the picture is to be handed over: half a frame before the OBS frame that is to show it. */
static uint64_t hand_over_at(const struct cohost_waiting_picture *picture, uint64_t interval)
{
	uint64_t frame = cohost_nearest_frame(picture->show_at, obs_get_video_frame_time(), interval);
	return frame - interval / 2;
}

static void *presenter_main(void *data)
{
	struct cohost_presenter *p = data;

	os_set_thread_name("obs-cohost-pic");
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		uint64_t interval = cohost_obs_frame_interval();
		uint64_t now = os_gettime_ns();
		unsigned long wait_ms = MAX_WAIT_MS;

		if (p->count > 0) {
			struct cohost_waiting_picture *next = &p->slots[p->first];
			uint64_t when = hand_over_at(next, interval);
			if (when <= now) {
				struct obs_source_frame frame = next->frame;
				uint8_t *data = next->data;
				size_t capacity = next->capacity;

				next->data = p->showing;
				next->capacity = p->showing_capacity;
				p->showing = data;
				p->showing_capacity = capacity;
				p->first = (p->first + 1) % COHOST_PRESENT_SLOTS;
				p->count--;
				pthread_mutex_unlock(&p->lock);
				/* OBS copies the picture before this returns. */
				obs_source_output_video(p->source, &frame);
				pthread_mutex_lock(&p->lock);
				continue;
			}
			if ((when - now) / 1000000ull < MAX_WAIT_MS)
				wait_ms = (unsigned long)((when - now + 999999) / 1000000ull);
		}
		pthread_mutex_unlock(&p->lock);
		os_event_timedwait(p->changed, wait_ms);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

bool cohost_presenter_start(struct cohost_presenter *p, obs_source_t *source)
{
	memset(p, 0, sizeof(*p));
	p->source = source;
	if (os_event_init(&p->changed, OS_EVENT_TYPE_AUTO) != 0)
		return false;
	pthread_mutex_init(&p->lock, NULL);
	p->started = pthread_create(&p->thread, NULL, presenter_main, p) == 0;
	if (!p->started) {
		pthread_mutex_destroy(&p->lock);
		os_event_destroy(p->changed);
	}
	return p->started;
}

void cohost_presenter_stop(struct cohost_presenter *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_mutex_unlock(&p->lock);
	os_event_signal(p->changed);
	pthread_join(p->thread, NULL);
	for (size_t i = 0; i < COHOST_PRESENT_SLOTS; i++)
		bfree(p->slots[i].data);
	bfree(p->showing);
	pthread_mutex_destroy(&p->lock);
	os_event_destroy(p->changed);
	p->started = false;
}

void cohost_presenter_queue(struct cohost_presenter *p, const struct obs_source_frame *frame, uint64_t show_at)
{
	size_t size = (size_t)frame->linesize[0] * frame->height;
	struct cohost_waiting_picture *slot;

	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->count == COHOST_PRESENT_SLOTS) {
		p->first = (p->first + 1) % COHOST_PRESENT_SLOTS;
		p->count--;
	}
	slot = &p->slots[(p->first + p->count) % COHOST_PRESENT_SLOTS];
	if (slot->capacity < size) {
		bfree(slot->data);
		slot->data = bmalloc(size);
		slot->capacity = size;
	}
	memcpy(slot->data, frame->data[0], size);
	slot->frame = *frame;
	slot->frame.data[0] = slot->data;
	slot->show_at = show_at;
	p->count++;
	pthread_mutex_unlock(&p->lock);
	os_event_signal(p->changed);
}

void cohost_presenter_clear(struct cohost_presenter *p)
{
	if (!p->started)
		return;
	pthread_mutex_lock(&p->lock);
	p->count = 0;
	pthread_mutex_unlock(&p->lock);
	os_event_signal(p->changed);
}
