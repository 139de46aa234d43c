package dev.edgekit.sample

import android.content.Context
import org.json.JSONObject
import java.io.File

/**
 * The options `edgekit handoff` writes to `edgekit-app.json`: which bundle to load and how.
 * The app reads them from its assets, so a new bundle needs no code change.
 */
data class ModelConfig(
    val litertlmModel: String?,
    val taskModel: String?,
    val maxTokens: Int,
    val topK: Int,
    val topP: Float,
    val temperature: Float,
    val randomSeed: Int,
    val userPrefix: String,
    val userSuffix: String,
    val modelPrefix: String,
) {
    /** Gemma has no system role: instructions belong at the head of the first user turn. */
    fun gemmaPrompt(userText: String): String = userPrefix + userText + userSuffix + modelPrefix

    /** Bundles are pushed next to the app's files (adb push, or downloaded on first run). */
    fun modelFile(
        context: Context,
        name: String,
    ): File = File(context.filesDir, name)

    companion object {
        const val ASSET = "edgekit-app.json"

        fun load(context: Context): ModelConfig {
            val json =
                context.assets
                    .open(ASSET)
                    .bufferedReader()
                    .use { JSONObject(it.readText()) }
            val chat = json.getJSONObject("chat_format")
            return ModelConfig(
                litertlmModel = json.optString("litertlm_model").ifEmpty { null },
                taskModel = json.optString("task_model").ifEmpty { null },
                maxTokens = json.getInt("max_tokens"),
                topK = json.getInt("top_k"),
                topP = json.getDouble("top_p").toFloat(),
                temperature = json.getDouble("temperature").toFloat(),
                randomSeed = json.getInt("random_seed"),
                userPrefix = chat.getString("user_prefix"),
                userSuffix = chat.getString("user_suffix"),
                modelPrefix = chat.getString("model_prefix"),
            )
        }
    }
}
