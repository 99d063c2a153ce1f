#include <obs-module.h>

#include "cohost-source.h"
#include "transport.h"

OBS_DECLARE_MODULE()
OBS_MODULE_USE_DEFAULT_LOCALE("obs-cohost", "en-US")

MODULE_EXPORT const char *obs_module_description(void)
{
	return "The AI co-host's picture and sound, straight from the obs-cohost engine.";
}

bool obs_module_load(void)
{
	cohost_register_source();
	blog(LOG_INFO, "[obs-cohost] loaded (transport version %u)", COHOST_VERSION);
	return true;
}
