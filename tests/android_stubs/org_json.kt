@file:Suppress("unused", "UNUSED_PARAMETER")

package org.json

class JSONObject(json: String) {
    fun getJSONObject(name: String): JSONObject = TODO()
    fun getString(name: String): String = TODO()
    fun optString(name: String): String = TODO()
    fun getInt(name: String): Int = TODO()
    fun getDouble(name: String): Double = TODO()
}
