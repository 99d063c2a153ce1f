#pragma once

/* Registers the "cohost_source" input with OBS. */
void cohost_register_source(void);
