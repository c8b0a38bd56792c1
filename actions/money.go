package actions

import "math"

// YuanToFen converts a yuan amount as written in a playbook to fen, the unit
// koi stores money in, rounding to the nearest fen.
func YuanToFen(yuan float64) int64 { return int64(math.Round(yuan * 100)) }

// FenToYuan converts stored fen back to yuan for expressions and templates.
func FenToYuan(fen int64) float64 { return float64(fen) / 100 }
