package dev.edgekit.sample

import android.content.Context
import com.google.mediapipe.tasks.genai.llminference.LlmInference
import kotlinx.coroutines.CompletableDeferred

/** MediaPipe LlmInference with a .task: the app applies Gemma's turn markers itself. */
class MediaPipeChat(
    context: Context,
    modelPath: String,
    private val config: ModelConfig,
) : ChatBackend {
    private val llm: LlmInference =
        LlmInference.createFromOptions(
            context,
            LlmInference.LlmInferenceOptions
                .builder()
                .setModelPath(modelPath)
                .setMaxTokens(config.maxTokens)
                .setMaxTopK(config.topK)
                .build(),
        )

    override suspend fun reply(
        userText: String,
        onPartial: (String) -> Unit,
    ) {
        val finished = CompletableDeferred<Unit>()
        llm.generateResponseAsync(config.gemmaPrompt(userText)) { partial, done ->
            onPartial(partial)
            if (done) finished.complete(Unit)
        }
        finished.await()
    }

    override fun close() = llm.close()
}
