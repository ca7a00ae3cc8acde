//! SDR records: full and compact sensors, FRU and management-controller locators.
