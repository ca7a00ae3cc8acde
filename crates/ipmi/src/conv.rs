//! Sensor reading conversion (the SDR linear formula and its inverse).
